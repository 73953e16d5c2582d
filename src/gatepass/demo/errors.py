"""Every demo API refusal is JSON with ``error`` and ``error_description`` (RFC 6749 §5.2 shape).

Scope refusals keep the RFC 6750 challenge (``gatepass.rs.fastapi``); invalid bodies and query
parameters are 422 ``invalid_request`` listing ``invalid_fields``; unknown paths are 404
``not_found``, wrong methods 405 ``method_not_allowed``; anything unexpected is a logged 500
``server_error`` without detail. ``BodyCap`` refuses bodies over a size with 413 before parsing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gatepass.errors import InvalidRequest, OAuthError, ServerError
from gatepass.rs.fastapi import install_exception_handler

__all__ = ["BodyCap", "install_error_handlers", "json_response"]

log = logging.getLogger("gatepass.demo")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_CODES = {404: "not_found", 405: "method_not_allowed"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (orjson); API data is per caller, so ``Cache-Control: no-store``."""
    return Response(
        orjson.dumps(body), status, {"Cache-Control": "no-store", **(headers or {})},
        media_type="application/json",
    )  # fmt: skip


def error_response(err: OAuthError) -> Response:
    return json_response(err.body(), err.http_status, err.headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path") else loc
    return ".".join(str(p) for p in parts) or "body"


async def _invalid(request: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(InvalidRequest("The body is not valid JSON", status=422))
    fields = [{"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
              for e in errors]  # fmt: skip
    text = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5]) or "Invalid request"
    return error_response(InvalidRequest(text, status=422, extra={"invalid_fields": fields}))


async def _http(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    description = f"{request.method} {request.url.path}: {HTTPStatus(status).phrase}"
    body = {"error": _CODES.get(status, "invalid_request"), "error_description": description}
    return json_response(body, status, headers)


async def _oauth(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return error_response(exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s", request.url.path, exc_info=exc)
    return error_response(ServerError("Internal error"))


def install_error_handlers(app: FastAPI) -> None:
    """JSON error bodies for validation, HTTP, protocol, scope and unexpected errors."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(OAuthError, _oauth)
    app.add_exception_handler(Exception, _unexpected)
    install_exception_handler(app)


class BodyCap:
    """Refuses bodies over ``limit`` bytes with 413 JSON; bodiless methods pass untouched."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HTTPException(413)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        err = InvalidRequest(f"Request body larger than {self.limit} bytes", status=413)
        await error_response(err)(scope, receive, send)
