"""RFC endpoints as plain Starlette routes: body -> core request -> core result -> Response."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gatepass.core.server import AuthorizationServer
from gatepass.errors import OAuthError, ServerError, TemporarilyUnavailable
from gatepass.http.forms import read_oauth_request
from gatepass.http.responses import error_response, json_response
from gatepass.storage.base import StorageError

__all__ = ["FastLane", "fast_handlers", "oauth_routes"]

log = logging.getLogger("gatepass.http")
Handler = Callable[[Request], Awaitable[Response]]


def guarded(handler: Handler) -> Handler:
    """Turn protocol errors into their responses, storage failures into 503, the rest into 500."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except OAuthError as exc:
            return error_response(exc)
        except StorageError:
            log.exception("storage failure on %s", request.url.path)
            return error_response(
                TemporarilyUnavailable("Storage is unavailable; retry later",
                                       headers={"Retry-After": "5"})
            )
        except Exception:
            log.exception("unexpected error on %s", request.url.path)
            return error_response(ServerError("Internal error"))

    return endpoint


def oauth_routes(server: AuthorizationServer, max_body: int) -> list[Route]:
    """Token, introspection, revocation and the revocation feed."""

    async def token(request: Request) -> Response:
        return json_response(await server.token(await read_oauth_request(request, max_body)))

    async def introspect(request: Request) -> Response:
        return json_response(await server.introspect(await read_oauth_request(request, max_body)))

    async def revoke(request: Request) -> Response:
        await server.revoke(await read_oauth_request(request, max_body))
        return json_response({})

    async def revocations(request: Request) -> Response:
        return await _revocation_feed(server, request)

    both = ["GET", "POST"]  # GET reaches the handler so it gets a JSON 405
    cfg = server.config
    return [
        Route(cfg.token_path, guarded(token), methods=both),
        Route(cfg.introspection_path, guarded(introspect), methods=both),
        Route(cfg.revocation_path, guarded(revoke), methods=both),
        Route("/oauth/revocations", guarded(revocations), methods=["GET"]),
    ]


async def _revocation_feed(server: AuthorizationServer, request: Request) -> Response:
    """Unexpired revoked ``jti`` values, for resource servers that pull (ETag / 304)."""
    now = server.clock.now()
    rows = await server.stores.revocations.revoked_since(0)
    items: list[dict[str, Any]] = [{"jti": j, "exp": e} for j, e in rows if e > now]
    digest = hashlib.sha256(" ".join(i["jti"] for i in items).encode()).hexdigest()[:16]
    etag = f'"{len(items)}-{digest}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return json_response({"revoked": items}, headers={"ETag": etag})


class FastLane:
    """Pure-ASGI front: POSTs to the RFC endpoints go straight to their handlers, skipping the
    router, sessions and the framework's exception layers (``guarded`` answers every error).

    ``handlers`` is shared with the lifespan, which fills it once the server is built.
    """

    def __init__(self, app: ASGIApp, handlers: dict[str, Handler]) -> None:
        self.app = app
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.handlers.get(scope["path"])
            if handler is not None:
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def fast_handlers(routes: list[Route]) -> dict[str, Handler]:
    """The POST handlers of ``routes`` by path, for ``FastLane``."""
    return {r.path: r.endpoint for r in routes if "POST" in (r.methods or ())}
