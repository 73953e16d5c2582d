"""What every ``/api/v1`` router shares: the error shape, the runtime dependency, bearer docs.

Every refusal is the OAuthError JSON body (``error``, ``error_description``): protocol errors
raised by the core, FastAPI's own validation errors (400 instead of 422), unknown paths (404),
wrong methods (405), storage outages (503) and anything unexpected (500, logged, no detail).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gatepass.errors import InvalidRequest, OAuthError, ServerError, TemporarilyUnavailable
from gatepass.http.outage import storage_failure
from gatepass.http.responses import error_response, json_response
from gatepass.ratelimit import Policy
from gatepass.runtime import Runtime
from gatepass.storage.base import StorageError

__all__ = ["GuardedRoute", "RuntimeDep", "SourcePolicyDep", "bearer", "install_error_handlers"]

log = logging.getLogger("gatepass.http")
bearer = HTTPBearer(auto_error=False, description="Access token or registration access token")


class GuardedRoute(APIRoute):
    """A path operation whose protocol, storage and unexpected errors become JSON responses."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (RequestValidationError, HTTPException):
                raise
            except OAuthError as exc:
                return error_response(exc)
            except StorageError as exc:
                storage_failure(exc, request.url.path)
                return error_response(TemporarilyUnavailable(
                    "Storage is unavailable; retry later", headers={"Retry-After": "5"}))
            except Exception:
                log.exception("unexpected error on %s", request.url.path)
                return error_response(ServerError("Internal error"))

        return guarded


async def _runtime(request: Request) -> Runtime:  # async: no threadpool hop per request
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _source_policy(request: Request) -> Policy:
    policy: Policy = request.app.state.source_policy
    return policy


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
SourcePolicyDep = Annotated[Policy, Depends(_source_policy)]


async def _validation_error(request: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(InvalidRequest("The body is not valid JSON"))
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors
    )
    return error_response(InvalidRequest(detail or "Invalid request"))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    code = {404: "not_found", 405: "invalid_request"}.get(status, "invalid_request")
    return json_response({"error": code, "error_description": f"{request.method} "
                          f"{request.url.path}: {HTTPStatus(status).phrase}"}, status, headers)


def install_error_handlers(app: FastAPI) -> None:
    """FastAPI's 422/404/405 answer in the OAuth error shape too."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
