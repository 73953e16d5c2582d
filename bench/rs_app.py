"""The demo API as ``bench/resource_server.py`` serves it: ``uvicorn rs_app:app --factory``.

``BENCH_MODE``:

* ``unprotected`` — the same demo routes and error handling, no ``gatepass.rs``, no limiter;
* ``protected`` — ``create_demo_api`` as shipped: bearer auth (verified-token cache, in-memory
  revocation list checked on every request), ``require_scopes``, no rate limiting;
* ``ratelimit`` — ``protected`` plus ``RateLimitMiddleware`` on ``BENCH_RL_STORAGE``
  (``memory://`` or ``redis://…``, keys under ``BENCH_KEY_PREFIX``), with budgets so large that
  every request is counted in all three windows of its tier and none is refused.

Keys: ``BENCH_JWKS`` (a public JWK Set, JSON), served in-process through ``jwks_source``.
``GET /healthz`` answers when the app is up; ``GET /bench/stats`` gives the verifier's counters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gatepass.clock import SystemClock
from gatepass.demo import DemoData, create_demo_api, demo_parts
from gatepass.demo.errors import BodyCap, install_error_handlers
from gatepass.demo.routes import demo_router
from gatepass.ratelimit import Limiter, Policy, Tier
from gatepass.rs import MemoryRevocationList

HUGE = 10**9
POLICY = Policy(tiers={
    "human": Tier("human", per_minute=HUGE, burst=HUGE),
    "agent_standard": Tier("agent_standard", per_minute=HUGE, burst=HUGE, per_day=HUGE),
})  # fmt: skip


async def _anonymous() -> None:
    return None


def _unprotected() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    app.include_router(demo_router(lambda scope: _anonymous, DemoData(SystemClock())),
                       prefix="/api")
    app.add_middleware(BodyCap, limit=16_384)
    return app


def _protected(mode: str) -> FastAPI:
    jwks: dict[str, Any] = json.loads(os.environ["BENCH_JWKS"])

    async def source() -> Mapping[str, Any]:
        return jwks

    storage = os.environ.get("BENCH_RL_STORAGE", "memory://")
    prefix = os.environ.get("BENCH_KEY_PREFIX", "gatepass:bench")
    limiter = Limiter(storage, key_prefix=prefix) if mode == "ratelimit" else None
    return create_demo_api(
        os.environ["BENCH_ISSUER"], os.environ["BENCH_RESOURCE"], jwks_source=source,
        revocation=MemoryRevocationList(), limiter=limiter, rate_limit=limiter is not None,
        policy=POLICY,
    )  # fmt: skip


def app() -> FastAPI:
    mode = os.environ.get("BENCH_MODE", "protected")
    built = _unprotected() if mode == "unprotected" else _protected(mode)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stats(request: Request) -> Response:
        if mode == "unprotected":
            return JSONResponse({})
        counters = demo_parts(built).verifier.stats
        return JSONResponse({"signature_checks": counters.signature_checks,
                             "cache_hits": counters.cache_hits})

    built.router.add_route("/healthz", healthz)
    built.router.add_route("/bench/stats", stats)
    return built
