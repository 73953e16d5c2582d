"""``create_app(settings)``: the ASGI app; its lifespan opens and closes stores and HTTP clients."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from gatepass.clock import Clock
from gatepass.core.authorize import AUTHORIZE_PATH
from gatepass.core.billing import BillingGate
from gatepass.demo.embedded import EmbeddedDemo
from gatepass.errors import InvalidToken
from gatepass.http.api import API_PREFIX, api_app
from gatepass.http.authorize import authorize_routes
from gatepass.http.billing import WebhookBillingGate
from gatepass.http.cimd_fetch import CimdFetcher
from gatepass.http.console import console_routes
from gatepass.http.deadline import DeadlineMiddleware
from gatepass.http.fetch import FetchLimits, SafeJwksFetcher
from gatepass.http.gates import AccountLimiter, install_registration_limits, register_policy
from gatepass.http.oauth import FastLane, fast_endpoints, oauth_routes
from gatepass.http.oauth_gates import SourceGates
from gatepass.http.prefix import IssuerPathMiddleware
from gatepass.http.registration import registration_routes, terms_routes
from gatepass.http.responses import error_response, json_response
from gatepass.http.session import session_middleware
from gatepass.http.wellknown import wellknown_routes
from gatepass.jobs import Periodic
from gatepass.observability.logging import audit_logger
from gatepass.observability.metrics import CONTENT_TYPE_LATEST, Metrics, fan_out
from gatepass.ratelimit import Limiter, Policy
from gatepass.runtime import (
    Runtime,
    billing_required,
    local_secrets,
    open_runtime,
    server_config,
)
from gatepass.settings import Settings
from gatepass.storage.base import Stores

__all__ = ["create_app"]

log = logging.getLogger("gatepass.http")
PROMOTION_INTERVAL = 300.0


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    stores: Stores | None = None,
    migrate: bool = True,
    freeze_startup_objects: bool = False,
) -> Starlette:
    """The authorization server as an ASGI app (routes are built when the lifespan starts).

    ``freeze_startup_objects`` (server processes): once started, move everything allocated so
    far out of the garbage collector's reach (``gc.freeze``), so that its full collections stop
    walking the long-lived modules, settings and caches on every pass.
    """
    config = server_config(settings)
    source_policy = register_policy(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = FetchLimits(settings.jwks_fetch_timeout, settings.fetch_per_host,
                             settings.fetch_pool_size, settings.fetch_failure_ttl)
        # one pool per purpose: metadata-document traffic cannot starve jwks_uri or billing
        async with (limits.client() as jwks_http, limits.client() as cimd_http,
                    httpx.AsyncClient(timeout=settings.agents.billing_webhook_timeout) as http):
            fetcher = SafeJwksFetcher(jwks_http, development=settings.development, limits=limits)
            accounts = AccountLimiter(limiter, settings.agents.registrations_per_account_per_day)
            runtime = await open_runtime(settings, clock=clock, fetch_jwks=fetcher,
                                         billing=_billing_gate(settings, http),
                                         account_limiter=accounts,
                                         on_audit_batch=fan_out(audit_logger(), metrics.observe),
                                         stores=stores,
                                         migrate=migrate)
            app.state.runtime = runtime
            metrics.watch(runtime.server.audit)
            runtime.server.enable_cimd(CimdFetcher(cimd_http, development=settings.development,
                                                   limits=limits))
            oauth = oauth_routes(runtime.server, settings.max_body_bytes,
                                 _source_gates(settings, limiter, source_policy, runtime))
            lane.update(fast_endpoints(oauth))
            app.router.routes.extend([*oauth, *_routes(runtime, settings, metrics)])
            app.router.routes.extend(_self_service_routes(runtime, source_policy))
            app.router.routes.extend(console_routes(runtime, settings, login_limiter))
            demo = (await EmbeddedDemo.open(runtime, metrics.fail_open)  # /api/*
                    if settings.demo_api else None)
            app.router.routes.extend(demo.routes if demo is not None else [])
            jobs = Periodic()
            jobs.every(settings.audit_flush_interval, runtime.server.audit.flush, "audit")
            jobs.every(settings.key_reload_interval, runtime.reload_keys, "keys")
            jobs.every(60.0, _purge(runtime), "purge")
            jobs.every(PROMOTION_INTERVAL, _promote(runtime), "promotion")
            follow = asyncio.create_task(runtime.server.directory.follow(), name="clients")
            if freeze_startup_objects:
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                await jobs.stop()  # a flush in progress ends first: nothing cut off half-written
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow
                if demo is not None:
                    await demo.aclose()
                await runtime.close()  # flushes the audit trail and its log lines
                await limiter.aclose()
                await login_limiter.aclose()

    session = session_middleware(local_secrets(settings)[1], development=settings.development)
    app = Starlette(lifespan=lifespan, exception_handlers={HTTPException: _http_error},
                    middleware=[session])
    app.router.redirect_slashes = False  # its redirect would be built from the Host header
    login_limiter = Limiter(settings.redis_url or "memory://", key_prefix="gatepass:login")
    app.state.config = config
    metrics = Metrics()
    limiter = install_registration_limits(
        app, settings, (config.registration_path, config.agent_registration_path),
        authorize=AUTHORIZE_PATH, on_fail_open=metrics.fail_open)
    lane: dict[str, Any] = {}
    app.add_middleware(FastLane, endpoints=lane)  # token path: outside sessions and routing
    issuer_path = urlsplit(settings.issuer).path
    if issuer_path not in ("", "/"):  # outermost, so every other layer sees the app's own paths
        app.add_middleware(IssuerPathMiddleware, prefix=issuer_path)
    app.add_middleware(DeadlineMiddleware, deadline=settings.request_deadline,
                       body_timeout=settings.body_read_timeout)  # around everything
    return app


def _source_gates(settings: Settings, limiter: Limiter, policy: Policy,
                  runtime: Runtime) -> SourceGates:
    """The per-address gates of the token, introspection and revocation endpoints."""
    return SourceGates(limiter, policy,
                       url_client_per_minute=settings.url_client_requests_per_ip_per_minute,
                       failures_per_client=settings.auth_failures_per_client_per_minute,
                       failures_per_source=settings.auth_failures_per_ip_per_minute,
                       audit=runtime.server.audit)


def _billing_gate(settings: Settings, http: httpx.AsyncClient) -> BillingGate | None:
    """The webhook gate when a billing URL is configured (else prepaid tokens)."""
    url = settings.agents.billing_webhook_url
    if url is None:
        return None
    return WebhookBillingGate(http, url, settings.agents.billing_webhook_timeout,
                              billing_required(server_config(settings)))


def _self_service_routes(runtime: Runtime, source_policy: Policy) -> list[BaseRoute]:
    """RFC 7591/7592, the agent terms page and the ``/api/v1`` JSON API."""
    return [*registration_routes(runtime, source_policy), *terms_routes(runtime),
            Mount(API_PREFIX, app=api_app(runtime, source_policy))]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer JSON too."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}  # 405: Allow
    code = {404: "not_found", 405: "invalid_request"}.get(status, "invalid_request")
    return json_response({"error": code, "error_description": f"{request.method} "
                          f"{request.url.path}: {HTTPStatus(status).phrase}"}, status, headers)


CODE_REPLAY_MEMORY = 3600.0


def _purge(runtime: Runtime) -> Callable[[], Awaitable[int]]:
    async def job() -> int:
        now = runtime.server.clock.now()
        purged = await runtime.stores.revocations.purge_expired(now)
        # Used codes stay an hour past expiry so a late replay still revokes its grant.
        purged += await runtime.stores.grants.purge_expired(now - CODE_REPLAY_MEMORY)
        purged += await runtime.stores.sessions.purge_expired(now)
        return purged + await runtime.stores.replay.purge_expired(now)

    return job


def _promote(runtime: Runtime) -> Callable[[], Awaitable[int]]:
    """Apply the configured promotion rules to every agent below the top trust level."""

    async def job() -> int:
        top = runtime.server.config.agents.max_trust
        promoted = 0
        for client in await runtime.admin.list_clients():
            if client.agent_type is not None and client.is_active and client.trust_level < top:
                promoted += await runtime.admin.apply_promotion_rules(client.client_id) is not None
        return promoted

    return job


def _routes(runtime: Runtime, settings: Settings, metrics: Metrics) -> list[Route]:
    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    async def prometheus(request: Request) -> Response:
        """Public only in development; else only with ``Authorization: Bearer <metrics_token>``
        (a wrong one is 401 after a constant-time comparison), and 404 when none is set."""
        if expected is None and not settings.development:
            raise HTTPException(404)
        if expected is not None:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if not (scheme.lower() == "bearer"
                    and hmac.compare_digest(token.strip().encode(), expected.encode())):
                return error_response(InvalidToken(
                    "GET /metrics needs Authorization: Bearer <metrics_token>",
                    status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'}))
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    server = runtime.server
    return [
        *wellknown_routes(server, settings.jwks_max_age),
        *authorize_routes(runtime),
        Route("/healthz", health, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
