"""RFC endpoints: body -> core request -> core result -> JSON (RFC 6749 §5, RFC 7662, RFC 7009).

The form endpoints are raw ASGI apps (no Request/Response objects on the token path); the
``FastLane`` in front of the app sends their POSTs to them directly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gatepass.core.requests import OAuthRequest
from gatepass.core.server import AuthorizationServer
from gatepass.errors import OAuthError, ServerError, TemporarilyUnavailable
from gatepass.http.forms import read_oauth_scope
from gatepass.http.responses import error_response, json_response
from gatepass.storage.base import StorageError

__all__ = ["FastLane", "FormEndpoint", "fast_endpoints", "form_endpoints", "oauth_routes"]

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


Call = Callable[[OAuthRequest], Awaitable[dict[str, Any] | None]]
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
_JSON_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
                 (b"pragma", b"no-cache")]


async def answer(call: Call, scope: Scope, receive: Receive, max_body: int) -> Answer:
    """Run one form endpoint from raw ASGI: (status, JSON body, extra headers). Protocol errors
    become their responses, storage failures 503, anything else 500 (logged, no detail)."""
    try:
        result = await call(await read_oauth_scope(scope, receive, max_body))
        return 200, orjson.dumps(result if result is not None else {}), []
    except OAuthError as exc:
        return _error(exc)
    except StorageError:
        log.exception("storage failure on %s", scope["path"])
        return _error(TemporarilyUnavailable("Storage is unavailable; retry later",
                                             headers={"Retry-After": "5"}))
    except Exception:
        log.exception("unexpected error on %s", scope["path"])
        return _error(ServerError("Internal error"))


def _error(exc: OAuthError) -> Answer:
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
    return exc.http_status, orjson.dumps(exc.body()), extra


async def send_answer(send: Send, status: int, body: bytes,
                      headers: list[tuple[bytes, bytes]]) -> None:
    """Two ASGI messages, headers pre-encoded: the least a JSON answer costs."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def form_endpoints(server: AuthorizationServer) -> dict[str, Call]:
    """The RFC 6749 / 7662 / 7009 endpoints by path, as core calls."""

    async def revoke(request: OAuthRequest) -> None:
        await server.revoke(request)

    cfg = server.config
    return {cfg.token_path: server.token, cfg.introspection_path: server.introspect,
            cfg.revocation_path: revoke}


class FormEndpoint:
    """One RFC form endpoint as a raw ASGI app (its route and the fast lane both use it)."""

    def __init__(self, call: Call, max_body: int) -> None:
        self.call = call
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_answer(send, *await answer(self.call, scope, receive, self.max_body))


def oauth_routes(server: AuthorizationServer, max_body: int) -> list[Route]:
    """Token, introspection and revocation (GET reaches them too, for a JSON 405), and the
    revocation feed."""

    async def revocations(request: Request) -> Response:
        return await _revocation_feed(server, request)

    forms = [Route(path, FormEndpoint(call, max_body), methods=["GET", "POST"])
             for path, call in form_endpoints(server).items()]
    return [*forms, Route("/oauth/revocations", guarded(revocations), methods=["GET"])]


async def _revocation_feed(server: AuthorizationServer, request: Request) -> Response:
    """Unexpired revoked ``jti`` values and client cutoffs (``{"client_id", "revoked_before",
    "exp"}``: tokens of the client with an earlier ``iat`` are revoked), for resource servers
    that pull (ETag / 304)."""
    now = server.clock.now()
    rows = await server.stores.revocations.revoked_since(0)
    items: list[dict[str, Any]] = [{"jti": j, "exp": e} for j, e in rows if e > now]
    cutoffs = [{"client_id": c, "revoked_before": b, "exp": e}
               for c, b, e in await server.stores.revocations.client_cutoffs(now)]
    seen = " ".join([*(i["jti"] for i in items), *(f"{c['client_id']}<{c['revoked_before']!r}"
                                                    for c in cutoffs)])
    digest = hashlib.sha256(seen.encode()).hexdigest()[:16]
    etag = f'"{len(items)}-{len(cutoffs)}-{digest}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return json_response({"revoked": items, "clients": cutoffs}, headers={"ETag": etag})


class FastLane:
    """Pure-ASGI front: POSTs to the RFC form endpoints go straight to their ``FormEndpoint``,
    skipping the router, sessions and the framework's exception layers.

    ``endpoints`` is shared with the lifespan, which fills it (``fast_endpoints``) once the
    server is built.
    """

    def __init__(self, app: ASGIApp, endpoints: dict[str, ASGIApp]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)


def fast_endpoints(routes: list[Route]) -> dict[str, ASGIApp]:
    """The form endpoints among ``routes``, by path, for ``FastLane``."""
    return {r.path: r.endpoint for r in routes if isinstance(r.endpoint, FormEndpoint)}
