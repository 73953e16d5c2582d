"""``create_demo_api``: the guide's API, protected by ``gatepass.rs`` and limited per agent tier.

Layers, outermost first:

1. ``BearerAuthMiddleware``: 401 with ``WWW-Authenticate: Bearer ... resource_metadata=`` for a
   missing, invalid, expired or revoked token; puts the verified ``Principal`` in the scope;
2. ``RateLimitMiddleware``: counts the request against the token's tier (memory, or Redis when
   the limiter says so); every counted response carries ``X-RateLimit-*``/``RateLimit``, and
   over budget it answers 429 with ``retry_after`` and ``upgrade_url``. Auth is outside so the
   principal (and its tier) is known; refused tokens never reach the counters;
3. ``BodyCap`` (413 over ``max_body_bytes``), then FastAPI, where each route needs its scope
   (403 ``insufficient_scope`` listing required and granted scopes; ``write:projects`` implies
   ``read:projects``).

The RFC 9728 document is served, public, at ``/.well-known/oauth-protected-resource`` and its
path-inserted form when ``resource`` has a path; its ``scopes_supported`` come from the routes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.routing import Route

from gatepass.clock import Clock, SystemClock
from gatepass.demo.data import DemoData
from gatepass.demo.errors import BodyCap, install_error_handlers
from gatepass.demo.routes import ROUTE_SCOPES, demo_router
from gatepass.ratelimit import Limiter, Policy, RateLimitMiddleware, by_path_prefix
from gatepass.rs import (
    BearerAuthMiddleware,
    ProtectedResourceMetadata,
    ResourceServerConfig,
    RevocationChecker,
    TokenVerifier,
    metadata_paths,
)
from gatepass.rs.fastapi import require_scopes
from gatepass.rs.jwks_cache import JWKSCache, JwksSource

__all__ = ["DEMO_IMPLICATIONS", "DemoParts", "create_demo_api", "demo_parts"]

DEMO_IMPLICATIONS: Mapping[str, tuple[str, ...]] = {"write:projects": ("read:projects",)}


@dataclass(frozen=True, slots=True)
class DemoParts:
    """What an embedding server starts and stops itself (``app.state.demo``)."""

    config: ResourceServerConfig
    verifier: TokenVerifier
    limiter: Limiter | None
    data: DemoData


def demo_parts(app: FastAPI) -> DemoParts:
    """The parts of an app made by ``create_demo_api``."""
    parts = app.state.demo
    assert isinstance(parts, DemoParts)
    return parts


def _config(issuer: str, resource: str, options: dict[str, Any]) -> ResourceServerConfig:
    implications = {**DEMO_IMPLICATIONS, **options.pop("scope_implications", {})}
    options.setdefault("token_endpoint", issuer.rstrip("/") + "/oauth/token")
    options.setdefault("scopes_supported", tuple(dict.fromkeys(ROUTE_SCOPES.values())))
    return ResourceServerConfig(issuer, resource, scope_implications=implications, **options)


def create_demo_api(
    issuer: str,
    resource: str,
    *,
    prefix: str = "/api",
    clock: Clock | None = None,
    http_client: httpx.AsyncClient | None = None,
    jwks_source: JwksSource | None = None,
    revocation: RevocationChecker | None = None,
    limiter: Limiter | None = None,
    rate_limit: bool = True,
    policy: Policy | None = None,
    upgrade_url: str | None = None,
    documentation_url: str | None = None,
    max_body_bytes: int = 16_384,
    on_fail_open: Callable[[str], None] | None = None,
    **config_options: Any,
) -> FastAPI:
    """The demo API for tokens of ``issuer`` whose ``aud`` holds ``resource``.

    ``config_options`` go to ``ResourceServerConfig`` (``algorithms``, ``jwks_uri``, ``leeway``,
    ``cache_size``, more ``scope_implications`` ...). Keys come from the issuer's JWKS over HTTP,
    or from ``jwks_source`` in-process. Without ``limiter`` a memory limiter is made (and closed
    by the app's lifespan); ``rate_limit=False`` leaves rate limiting out. Without a
    ``revocation`` checker, revocation is checked as ``gatepass.rs`` does by default, so
    ``config_options`` must give ``client_id`` and ``client_secret`` (``gatepass:introspect``).
    ``on_fail_open`` sees each request let through unlimited while the limiter's storage is down.
    """
    clock = clock or SystemClock()
    config = _config(issuer, resource, dict(config_options))
    jwks = JWKSCache(config, clock=clock, http_client=http_client, source=jwks_source)
    verifier = TokenVerifier(config, clock=clock, revocation=revocation, jwks=jwks,
                             http_client=http_client)
    owned = limiter is None and rate_limit
    limiter = (limiter or Limiter("memory://")) if rate_limit else None
    public = (f"{prefix}/docs", f"{prefix}/openapi.json")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned and limiter is not None:
            await limiter.aclose()

    app = FastAPI(title="Gatepass demo API", version="1", lifespan=lifespan, docs_url=public[0],
                  openapi_url=public[1], redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  redirect_slashes=False)  # a slash redirect would be built from Host
    data = DemoData(clock)
    app.state.demo = DemoParts(config, verifier, limiter, data)
    install_error_handlers(app)
    app.include_router(demo_router(require_scopes, data), prefix=prefix)
    # The API first: every request walks the routes in order, and docs are the rare case.
    app.router.routes.sort(key=lambda route: getattr(route, "path", None) in public)
    _add_metadata(app, config, documentation_url)
    _declare_security(app, config)
    app.add_middleware(BodyCap, limit=max_body_bytes)
    if limiter is not None:
        classify = by_path_prefix({prefix: "api", **dict.fromkeys(public)}, default=None)
        app.add_middleware(RateLimitMiddleware, limiter=limiter,
                           policy=policy or Policy(upgrade_url=upgrade_url), classify=classify,
                           on_fail_open=on_fail_open)
    app.add_middleware(BearerAuthMiddleware, verifier=verifier, protected_paths=(prefix + "/",),
                       exempt=_exempt(public), serve_metadata=False)  # its own document, below
    return app


def _declare_security(app: FastAPI, config: ResourceServerConfig) -> None:
    """OpenAPI: every operation takes an OAuth 2.0 client-credentials bearer token from
    Gatepass (``tokenUrl`` and the scopes), so generated clients and agents know how."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            scopes = {s: s for s in config.scopes_supported}
            schema.setdefault("components", {})["securitySchemes"] = {"gatepass": {
                "type": "oauth2", "description": "Access tokens from Gatepass (RFC 9068 JWTs)",
                "flows": {"clientCredentials": {"tokenUrl": config.token_endpoint or "",
                                                "scopes": scopes}}}}
            schema["security"] = [{"gatepass": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _exempt(public: Sequence[str]) -> Callable[[str], bool]:
    paths = frozenset(public)
    return lambda path: path.startswith("/.well-known/") or path in paths


def _add_metadata(app: FastAPI, config: ResourceServerConfig, docs: str | None) -> None:
    """RFC 9728 §3: the document at the well-known path(s), scopes read from ``app``'s routes."""
    metadata = ProtectedResourceMetadata(config, scopes_from=app, resource_name="Gatepass demo API",
                                         resource_documentation=docs)  # fmt: skip
    for path in metadata_paths(config.resource):
        app.router.routes.append(Route(path, metadata, include_in_schema=False))
