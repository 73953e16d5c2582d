"""Protocol core: plain request objects in, results or ``OAuthError`` out. No HTTP, SQL or Redis."""
