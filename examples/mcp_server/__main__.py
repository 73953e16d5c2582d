"""``python -m examples.mcp_server --issuer http://127.0.0.1:8000 --port 8001``."""

from .server import main

main()
