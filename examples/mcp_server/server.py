"""An MCP server (Streamable HTTP, official ``mcp`` SDK) protected by Gatepass.

``create_app(issuer, url)`` builds the ASGI app; ``main()`` runs it with uvicorn
(``python -m examples.mcp_server``). Layers, outermost first:

1. ``ProtectedResourceMetadata`` (RFC 9728 §3): the document at
   ``/.well-known/oauth-protected-resource/<path>`` (and the root form), naming the Gatepass
   issuer and every scope a tool needs;
2. ``BearerAuthMiddleware``: ``<path>`` needs an access token whose ``aud`` is this server's URL
   (RFC 8707 ``resource``; MCP authorization "Token Audience Binding"), else 401 with
   ``WWW-Authenticate: Bearer ... scope="<base scope>", resource_metadata="..."``;
3. ``SdkPrincipal``: binds SDK sessions to the verified principal;
4. ``ToolScopeGuard``: 403 ``insufficient_scope`` naming every scope of the called tool;
5. the SDK's Streamable HTTP app (DNS-rebinding protection on for loopback hosts).

The 401 challenge asks for ``base_scope`` only (least privilege, MCP authorization "Scope
Selection Strategy"); clients gain the others by stepping up when a tool answers 403. The
server advertises the ``io.modelcontextprotocol/oauth-client-credentials`` extension in its
capabilities: agents connect with the client credentials grant (secret or ``private_key_jwt``).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx
from mcp.server.extension import Extension
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp

from gatepass.clock import Clock
from gatepass.demo import DEMO_IMPLICATIONS, DemoData
from gatepass.rs import (
    BearerAuthMiddleware,
    ProtectedResourceMetadata,
    ResourceServerConfig,
    TokenVerifier,
)

from .guard import SdkPrincipal, ToolScopeGuard
from .tools import TOOL_SCOPES, add_tools

__all__ = ["BASE_SCOPE", "CLIENT_CREDENTIALS_EXTENSION", "create_app", "main"]

BASE_SCOPE = "read:projects"
CLIENT_CREDENTIALS_EXTENSION = "io.modelcontextprotocol/oauth-client-credentials"


class ClientCredentialsExtension(Extension):
    """Advertises the MCP OAuth client credentials extension (SEP-1046) in the capabilities."""

    identifier = CLIENT_CREDENTIALS_EXTENSION


def create_app(
    issuer: str,
    url: str,
    *,
    base_scope: str = BASE_SCOPE,
    jwks_uri: str | None = None,
    token_endpoint: str | None = None,
    data: DemoData | None = None,
    clock: Clock | None = None,
    http_client: httpx.AsyncClient | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> ASGIApp:
    """The MCP server at ``url`` (its resource identifier) for tokens of Gatepass ``issuer``.

    Keys come from the issuer's JWKS (``jwks_uri``, else discovered from its RFC 8414 metadata).
    With ``client_id``/``client_secret`` (a client allowed ``gatepass:introspect``) revoked
    tokens are refused (``gatepass.rs`` revocation checks); without, they pass until ``exp``.
    """
    issuer = issuer.rstrip("/")
    config = ResourceServerConfig(
        issuer, url, jwks_uri=jwks_uri, scopes_supported=(base_scope,),
        token_endpoint=token_endpoint or issuer + "/oauth/token",
        scope_implications=DEMO_IMPLICATIONS, client_id=client_id, client_secret=client_secret,
        revocation="auto" if client_id and client_secret else "none",
    )  # fmt: skip
    verifier = TokenVerifier(config, clock=clock, http_client=http_client)
    server: MCPServer = MCPServer("gatepass-demo", title="Gatepass demo MCP server",
                                  extensions=[ClientCredentialsExtension()],
                                  log_level="WARNING")  # fmt: skip
    add_tools(server, data if data is not None else DemoData(verifier.clock))
    parts = urlsplit(url)
    path = parts.path or "/"
    mcp = server.streamable_http_app(streamable_http_path=path, host=parts.hostname or "")
    guard = ToolScopeGuard(mcp, TOOL_SCOPES, config)
    bearer = BearerAuthMiddleware(SdkPrincipal(guard, url), verifier, protected_paths=(path,))
    return ProtectedResourceMetadata(config, bearer, scopes_from=guard,
                                     resource_name="Gatepass demo MCP server")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.mcp_server",
                                     description="MCP server protected by Gatepass")
    parser.add_argument("--issuer", default=os.environ.get("GATEPASS_ISSUER",
                                                           "http://127.0.0.1:8000"),
                        help="Gatepass issuer (default: $GATEPASS_ISSUER or %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--url", help="public URL of the MCP endpoint, the token audience "
                                      "(default: http://HOST:PORT/mcp)")
    parser.add_argument("--base-scope", default=BASE_SCOPE,
                        help="scope the 401 challenge asks for (default: %(default)s)")
    parser.add_argument("--client-id", default=os.environ.get("GATEPASS_RS_CLIENT_ID"),
                        help="resource-server client (gatepass:introspect) for revocation "
                             "checks (default: $GATEPASS_RS_CLIENT_ID)")
    parser.add_argument("--client-secret", default=os.environ.get("GATEPASS_RS_CLIENT_SECRET"),
                        help="its secret (default: $GATEPASS_RS_CLIENT_SECRET)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server with uvicorn until interrupted."""
    import uvicorn

    args = _arguments(argv)
    url = args.url or f"http://{args.host}:{args.port}/mcp"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for chatty in ("httpx", "mcp"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    logging.getLogger("examples.mcp_server").info(
        "MCP endpoint %s (token audience), authorization server %s\n"
        "The authorization server must allow this resource: GATEPASS_RESOURCES='[\"%s\"]' or "
        "`gatepass clients create ... --resource %s`", url, args.issuer, url, url)
    if not args.client_id:
        logging.getLogger("examples.mcp_server").warning(
            "No --client-id: revoked tokens are accepted until they expire")
    app = create_app(args.issuer, url, base_scope=args.base_scope, client_id=args.client_id,
                     client_secret=args.client_secret)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
