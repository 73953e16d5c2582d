"""Discovery (RFC 8414 §3, both well-known names), the JWKS (RFC 7517 §5) and ``llms.txt``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gatepass.core.discovery import build_llms_txt
from gatepass.core.server import AuthorizationServer
from gatepass.http.responses import json_response

__all__ = ["wellknown_routes"]


def wellknown_routes(server: AuthorizationServer, jwks_max_age: int) -> list[Route]:
    """Metadata under both names, and the public keys with a ``max-age``."""

    async def metadata(request: Request) -> Response:
        return json_response(server.metadata(), cache="public, max-age=300")

    async def jwks(request: Request) -> Response:
        return json_response(server.keyring.jwks(), cache=f"public, max-age={jwks_max_age}")

    async def llms_txt(request: Request) -> Response:
        text = build_llms_txt(server.metadata(), server.config)
        return PlainTextResponse(text, headers={"Cache-Control": "public, max-age=300"})

    return [
        Route("/llms.txt", llms_txt, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/.well-known/openid-configuration", metadata, methods=["GET"]),
        Route(server.config.jwks_path, jwks, methods=["GET"]),
    ]
