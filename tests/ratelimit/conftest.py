"""Fixtures for the rate-limit tests: a tiny Starlette app, a principal injector, Redis probes."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatepass.models import Principal
from gatepass.ratelimit import (
    PRINCIPAL_SCOPE_KEY,
    Limiter,
    Policy,
    RateLimitMiddleware,
    RefusalObserver,
    Tier,
    by_path_prefix,
    tier_map,
)

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

# Small budgets so tests are fast; the burst window is 10 s so a second boundary cannot reset it.
SMALL_TIERS = tier_map(
    Tier("human", per_minute=5, burst=3, burst_window=10),
    Tier("agent_standard", per_minute=8),
    Tier("agent_premium", per_minute=20, per_day=100),
)
CLASSIFY = by_path_prefix({"/oauth/token": "token", "/register": "register", "/health": None})


async def _ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/api/items", _ok),
    Route("/oauth/token", _ok, methods=["POST"]),
    Route("/register", _ok, methods=["POST"]),
    Route("/health", _ok),
]


class PrincipalFromHeader:
    """Test stand-in for the bearer-auth middleware: ``x-test-principal: id;agent_type;tier``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw = dict(scope.get("headers", ())).get(b"x-test-principal")
        if raw is not None:
            client_id, agent_type, tier = [*raw.decode().split(";"), "", ""][:3]
            scope[PRINCIPAL_SCOPE_KEY] = principal(client_id, agent_type or None, tier or None)
        await self.app(scope, receive, send)


def principal(client_id: str, agent_type: str | None = None, tier: str | None = None) -> Principal:
    return Principal(
        client_id=client_id,
        subject=client_id,
        scopes=frozenset({"read:items"}),
        issuer="https://as.example",
        audience=("https://api.example",),
        expires_at=1.0e10,
        agent_type=agent_type,
        tier=tier,
    )


def build_app(
    limiter: Limiter,
    policy: Policy | None = None,
    policies: Mapping[str, Policy] | None = None,
    on_refusal: RefusalObserver | None = None,
) -> Any:
    limited = RateLimitMiddleware(
        Starlette(routes=ROUTES),
        limiter=limiter,
        policy=policy,
        policies=policies,
        classify=CLASSIFY,
        on_refusal=on_refusal,
    )
    return PrincipalFromHeader(limited)


class Harness:
    """One app (one limiter) and httpx clients on it, each with its own socket peer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.clients: list[httpx.AsyncClient] = []

    def client(self, peer: str = "203.0.113.7") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(peer, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.clients.append(client)
        return client


MakeHarness = Callable[..., Harness]


@pytest.fixture
async def harness() -> AsyncIterator[MakeHarness]:
    """``harness(limiter=..., policy=..., policies=..., on_refusal=...)``; the default policy
    uses SMALL_TIERS."""
    made: list[Harness] = []

    def make(
        *,
        limiter: Limiter | None = None,
        policy: Policy | None = None,
        policies: Mapping[str, Policy] | None = None,
        on_refusal: RefusalObserver | None = None,
    ) -> Harness:
        app = build_app(limiter or Limiter(), policy or Policy(tiers=SMALL_TIERS), policies,
                        on_refusal)
        made.append(Harness(app))
        return made[-1]

    yield make
    for h in made:
        for client in h.clients:
            await client.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_available() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    if not redis_available():
        pytest.skip(f"no Redis at {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


async def drain(send: Callable[[], Awaitable[httpx.Response]], count: int) -> list[int]:
    """Statuses of ``count`` sequential requests."""
    return [(await send()).status_code for _ in range(count)]


@pytest.fixture(autouse=True)
def _away_from_window_edges() -> None:
    """Memory sliding windows align to epoch multiples: start a test away from a 10 s edge."""
    into = time.time() % 10
    if into > 9.0:
        time.sleep(10.05 - into)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix; its keys are deleted afterwards."""
    import redis

    prefix = f"gatepass-test-{uuid.uuid4().hex}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
