"""A tiny app for the two-process test: uvicorn imports it; Redis settings come from the env."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatepass.ratelimit import Limiter, Policy, RateLimitMiddleware, Tier, by_path_prefix, tier_map

limiter = Limiter(
    os.environ["GATEPASS_RL_TEST_REDIS"], key_prefix=os.environ["GATEPASS_RL_TEST_PREFIX"]
)
policy = Policy(tiers=tier_map(Tier("human", per_minute=6), Tier("agent_standard", per_minute=6)))


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"pid": os.getpid()})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await limiter.aclose()


app = RateLimitMiddleware(
    Starlette(routes=[Route("/api/items", ok), Route("/health", ok)], lifespan=lifespan),
    limiter=limiter,
    policy=policy,
    classify=by_path_prefix({"/health": None}),
)
