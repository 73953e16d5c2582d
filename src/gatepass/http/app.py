"""``create_app(settings)``: the ASGI app; its lifespan opens and closes stores and HTTP clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gatepass.clock import Clock
from gatepass.http.fetch import SafeJwksFetcher
from gatepass.http.oauth import oauth_routes
from gatepass.http.responses import json_response
from gatepass.http.wellknown import wellknown_routes
from gatepass.observability.logging import audit_logger
from gatepass.runtime import Runtime, open_runtime, server_config
from gatepass.settings import Settings
from gatepass.storage.base import StorageError, Stores

__all__ = ["create_app"]

log = logging.getLogger("gatepass.http")


async def _every(seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except StorageError:
            log.warning("background job %s: storage unavailable", name)
        except Exception:
            log.exception("background job %s failed", name)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    stores: Stores | None = None,
    migrate: bool = True,
) -> Starlette:
    """The authorization server as an ASGI app (routes are built when the lifespan starts)."""
    config = server_config(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.jwks_fetch_timeout) as http:
            fetcher = SafeJwksFetcher(http, development=settings.development)
            runtime = await open_runtime(settings, clock=clock, fetch_jwks=fetcher,
                                         on_audit=audit_logger(), stores=stores,
                                         migrate=migrate)
            app.state.runtime = runtime
            app.router.routes.extend(_routes(runtime, settings))
            tasks = [
                asyncio.create_task(_every(settings.audit_flush_interval,
                                           runtime.server.audit.flush, "audit")),
                asyncio.create_task(_every(settings.key_reload_interval,
                                           runtime.reload_keys, "keys")),
                asyncio.create_task(_every(60.0, _purge(runtime), "purge")),
            ]
            try:
                yield
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await runtime.close()

    app = Starlette(lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.config = config
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer JSON too."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = {404: "not_found", 405: "invalid_request"}.get(status, "invalid_request")
    return json_response({"error": code, "error_description": f"{request.method} "
                          f"{request.url.path}: {HTTPStatus(status).phrase}"}, status)


def _purge(runtime: Runtime) -> Callable[[], Awaitable[int]]:
    async def job() -> int:
        return await runtime.stores.revocations.purge_expired(runtime.server.clock.now())

    return job


def _routes(runtime: Runtime, settings: Settings) -> list[Route]:
    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    server = runtime.server
    return [
        *wellknown_routes(server, settings.jwks_max_age),
        *oauth_routes(server, settings.max_body_bytes),
        Route("/healthz", health, methods=["GET"]),
    ]
