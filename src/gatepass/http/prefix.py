"""Serving an issuer that has a path (RFC 8414 §3.1): ``https://example.com/tenant``.

Requests under the issuer's path reach the app with that path stripped (and moved to
``root_path``); well-known documents are also answered at the path-inserted location,
``/.well-known/oauth-authorization-server/tenant``, where RFC 8414 clients look for them.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["IssuerPathMiddleware"]

WELL_KNOWN = "/.well-known/"


class IssuerPathMiddleware:
    """Maps ``/prefix/...`` and ``/.well-known/<name>/prefix...`` onto the app's own routes."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.prefix:
            path = self._map(scope["path"])
            if path is not None:
                scope = dict(scope, path=path, raw_path=path.encode(),
                             root_path=scope.get("root_path", "") + self.prefix)
        await self.app(scope, receive, send)

    def _map(self, path: str) -> str | None:
        prefix = self.prefix
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix):] or "/"
        if path.startswith(WELL_KNOWN):
            name, sep, rest = path[len(WELL_KNOWN):].partition("/")
            rest = sep + rest
            if rest == prefix or rest.startswith(prefix + "/"):
                return WELL_KNOWN + name + rest[len(prefix):]
        return None
