"""A minimal agent for the example server: the official MCP client with client credentials.

``python -m examples.mcp_server.client --client-id ID --client-secret SECRET`` lists the tools
and calls one (``list_projects`` unless ``--tool``/``--arguments`` say otherwise). The SDK
does the whole dance: 401 -> RFC 9728 metadata -> RFC 8414 discovery -> token for this server's
URL -> retry, and a step-up when a tool answers 403 ``insufficient_scope``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence
from typing import Any

import httpx2
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from mcp import Client

__all__ = ["MemoryTokenStorage", "call"]


class MemoryTokenStorage:
    """Tokens for this process only (the SDK's ``TokenStorage`` protocol)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def call(url: str, issuer: str, client_id: str, client_secret: str, tool: str,
               arguments: dict[str, Any]) -> tuple[list[str], Any]:
    """The tool names and ``tool``'s structured result (or text if it has none)."""
    auth = ClientCredentialsOAuthProvider(url, MemoryTokenStorage(), client_id, client_secret,
                                          issuer=issuer)
    async with httpx2.AsyncClient(auth=auth, timeout=30.0) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        result = await client.call_tool(tool, arguments)
    texts = [getattr(c, "text", "") for c in result.content]
    return names, result.structured_content if result.structured_content else "\n".join(texts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.mcp_server.client")
    parser.add_argument("--url", default="http://127.0.0.1:8001/mcp", help="MCP endpoint")
    parser.add_argument("--issuer", default=os.environ.get("GATEPASS_ISSUER",
                                                           "http://127.0.0.1:8000"))
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default=os.environ.get("GATEPASS_CLIENT_SECRET"),
                        help="default: $GATEPASS_CLIENT_SECRET")
    parser.add_argument("--tool", default="list_projects")
    parser.add_argument("--arguments", default="{}", help="JSON object")
    args = parser.parse_args(argv)
    if not args.client_secret:
        parser.error("--client-secret (or GATEPASS_CLIENT_SECRET) is required")
    names, result = asyncio.run(call(args.url, args.issuer, args.client_id, args.client_secret,
                                     args.tool, json.loads(args.arguments)))
    print("tools:", ", ".join(names))
    print(json.dumps(result, indent=2) if not isinstance(result, str) else result)


if __name__ == "__main__":
    main()
