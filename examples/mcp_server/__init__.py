"""An MCP server protected by Gatepass: ``python -m examples.mcp_server`` (see README.md)."""

from .server import BASE_SCOPE, CLIENT_CREDENTIALS_EXTENSION, create_app, main
from .tools import SCOPES_META_KEY, TOOL_SCOPES

__all__ = [
    "BASE_SCOPE",
    "CLIENT_CREDENTIALS_EXTENSION",
    "SCOPES_META_KEY",
    "TOOL_SCOPES",
    "create_app",
    "main",
]
