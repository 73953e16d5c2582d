"""Discovery (RFC 8414 §3, both well-known names), the JWKS (RFC 7517 §5) and ``llms.txt``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gatepass.core.discovery import build_llms_txt
from gatepass.core.server import AuthorizationServer
from gatepass.http.responses import json_response

__all__ = ["wellknown_routes"]

ROBOTS_TXT = """# Agents are welcome: discover our auth and register without a browser.
User-agent: *
Allow: /.well-known/
Allow: /llms.txt
Allow: /api/
Disallow: /console/
Disallow: /oauth/authorize

# Machine-readable entry points
# Discovery: {issuer}/.well-known/oauth-authorization-server
# LLM guide: {issuer}/llms.txt
"""


def wellknown_routes(server: AuthorizationServer, jwks_max_age: int) -> list[Route]:
    """Metadata under both names, and the public keys with a ``max-age``."""

    async def metadata(request: Request) -> Response:
        return json_response(server.metadata(), cache="public, max-age=300")

    async def jwks(request: Request) -> Response:
        return json_response(server.keyring.jwks(), cache=f"public, max-age={jwks_max_age}")

    async def llms_txt(request: Request) -> Response:
        text = build_llms_txt(server.metadata(), server.config)
        return PlainTextResponse(text, headers={"Cache-Control": "public, max-age=300"})

    async def robots(request: Request) -> Response:
        text = ROBOTS_TXT.format(issuer=server.config.issuer)
        return PlainTextResponse(text, headers={"Cache-Control": "public, max-age=3600"})

    return [
        Route("/robots.txt", robots, methods=["GET"]),
        Route("/llms.txt", llms_txt, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/.well-known/openid-configuration", metadata, methods=["GET"]),
        Route(server.config.jwks_path, jwks, methods=["GET"]),
    ]
