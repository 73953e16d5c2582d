"""RFC endpoints: body -> core request -> core result -> JSON (RFC 6749 §5, RFC 7662, RFC 7009).

The form endpoints are raw ASGI apps (no Request/Response objects on the token path); the
``FastLane`` in front of the app sends their POSTs to them directly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gatepass.core.requests import OAuthRequest
from gatepass.core.revocation_feed import REVOCATION_FEED_PATH, read_feed
from gatepass.core.server import AuthorizationServer
from gatepass.errors import InvalidClient, OAuthError, ServerError, TemporarilyUnavailable
from gatepass.http.forms import read_oauth_scope
from gatepass.http.oauth_gates import SourceGates
from gatepass.http.outage import storage_failure
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
        except StorageError as exc:
            storage_failure(exc, request.url.path)
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


async def answer(call: Call, scope: Scope, receive: Receive, max_body: int,
                 gates: SourceGates | None = None) -> Answer:
    """Run one form endpoint from raw ASGI: (status, JSON body, extra headers). Protocol errors
    become their responses, storage failures 503, anything else 500 (logged, no detail).
    ``gates`` may refuse the request first (429) and count its ``invalid_client`` failures."""
    request: OAuthRequest | None = None
    try:
        request = await read_oauth_scope(scope, receive, max_body)
        if gates is not None and gates.watching(request):
            await gates.admit(scope, request)
        result = await call(request)
        return 200, orjson.dumps(result if result is not None else {}), []
    except InvalidClient as exc:
        if gates is not None and request is not None:
            return _error(await gates.failed(scope, request, exc))
        return _error(exc)
    except OAuthError as exc:
        return _error(exc)
    except StorageError as exc:
        storage_failure(exc, scope["path"])
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

    def __init__(self, call: Call, max_body: int, gates: SourceGates | None = None) -> None:
        self.call = call
        self.max_body = max_body
        self.gates = gates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_answer(send, *await answer(self.call, scope, receive, self.max_body,
                                              self.gates))


def oauth_routes(server: AuthorizationServer, max_body: int,
                 gates: SourceGates | None = None) -> list[Route]:
    """Token, introspection and revocation (GET reaches them too, for a JSON 405), and the
    revocation feed."""

    async def revocations(request: Request) -> Response:
        return await _revocation_feed(server, request)

    forms = [Route(path, FormEndpoint(call, max_body, gates), methods=["GET", "POST"])
             for path, call in form_endpoints(server).items()]
    return [*forms, Route(REVOCATION_FEED_PATH, guarded(revocations), methods=["GET"])]


async def _revocation_feed(server: AuthorizationServer, request: Request) -> Response:
    """The paged revocation feed (``gatepass.core.revocation_feed``), for resource servers that
    pull; the caller authenticates as at the introspection endpoint."""
    client = request.client
    oauth = OAuthRequest(form={}, authorization=request.headers.get("authorization"),
                         remote_addr=client.host if client else None)
    query = dict(request.query_params)
    return json_response(await read_feed(server, oauth, query))


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
