"""The limiter on ``limits``: windows shortest first, stats, storage failure and the breaker."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time

import pytest

from gatepass.clock import FrozenClock
from gatepass.ratelimit import (
    Decision,
    Limiter,
    LimiterBusy,
    LimiterUnavailable,
    Tier,
    Window,
    WindowState,
)

from .conftest import MakeHarness, free_port

TIER = Tier("t", per_minute=4, burst=2, burst_window=10)


async def test_burst_refusal_does_not_spend_the_minute_budget() -> None:
    limiter = Limiter()
    outcomes = [await limiter.hit(("api", "t", "ip", "a"), TIER.windows, "moving-window")]
    outcomes += [await limiter.hit(("api", "t", "ip", "a"), TIER.windows, "moving-window")]
    third = await limiter.hit(("api", "t", "ip", "a"), TIER.windows, "moving-window")
    assert [d.allowed for d in outcomes] == [True, True]
    assert third.refused_by == Window("burst", 2, 10)
    assert [(s.window.name, s.remaining) for s in third.states] == [("burst", 0), ("minute", 2)]


async def test_sliding_window_counter_counts_per_key() -> None:
    limiter = Limiter()
    windows = Tier("t", per_minute=3).windows
    a = [(await limiter.hit(("k", "a"), windows, "sliding-window-counter")).allowed for _ in "xxxx"]
    b = await limiter.hit(("k", "b"), windows, "sliding-window-counter")
    assert a == [True, True, True, False]
    assert b.allowed and b.states[0].remaining == 2


def _state(name: str, limit: int, seconds: int, remaining: int, reset: float) -> WindowState:
    return WindowState(Window(name, limit, seconds), remaining, reset)


def test_binding_is_fewest_remaining_then_longer_window() -> None:
    burst, minute = _state("burst", 10, 1, 3, 101.0), _state("minute", 60, 60, 3, 150.0)
    assert Decision(None, (burst, minute)).binding is minute
    assert Decision(None, (_state("burst", 10, 1, 2, 101.0), minute)).binding.window.name == "burst"


def test_retry_after_waits_for_every_exhausted_window() -> None:
    burst, minute = _state("burst", 10, 1, 0, 100.4), _state("minute", 60, 60, 0, 130.2)
    assert Decision(burst.window, (burst, minute)).retry_after(now=100.0) == 31
    assert Decision(burst.window, (burst,)).retry_after(now=100.0) == 1
    assert Decision(burst.window, (_state("b", 1, 1, 0, 99.0),)).retry_after(now=100.0) == 1


def test_unknown_storage_is_refused() -> None:
    with pytest.raises(ValueError, match="memory://, redis://"):
        Limiter("memcached://localhost:11211")


async def test_redis_down_raises_and_the_breaker_skips_it(caplog: pytest.LogCaptureFixture) -> None:
    clock = FrozenClock()
    limiter = Limiter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2, cooldown=5, clock=clock)
    caplog.set_level(logging.WARNING, "gatepass.ratelimit")
    with pytest.raises(LimiterUnavailable) as first:
        await limiter.hit(("k",), TIER.windows, "sliding-window-counter")
    with pytest.raises(LimiterUnavailable) as second:
        await limiter.hit(("k",), TIER.windows, "sliding-window-counter")
    clock.advance(5)
    with pytest.raises(LimiterUnavailable) as third:
        await limiter.hit(("k",), TIER.windows, "sliding-window-counter")
    await limiter.aclose()
    assert (first.value.first, second.value.first, third.value.first) == (True, False, True)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "rate-limit storage unavailable",
        "rate-limit storage unavailable",
    ]


async def test_silent_redis_costs_at_most_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        limiter = Limiter(f"redis://127.0.0.1:{port}/0", timeout=0.2, cooldown=0)
        started = time.monotonic()
        with pytest.raises(LimiterUnavailable):
            await limiter.hit(("k",), TIER.windows, "sliding-window-counter")
        assert time.monotonic() - started < 1.5
        await limiter.aclose()


async def test_a_silent_redis_is_busy_then_an_outage_after_the_patience() -> None:
    """Timeouts are back-pressure at first (a loaded process times out in bursts); once nothing
    has answered for ``patience`` seconds, the breaker trips and the policy's fail mode rules."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        limiter = Limiter(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout=0.1,
                          pool_wait=0.1, patience=0.3, cooldown=60)
        outcomes = []
        for _ in range(6):
            with pytest.raises(LimiterUnavailable) as failed:
                await limiter.hit(("k",), TIER.windows, "sliding-window-counter")
            outcomes.append(type(failed.value).__name__)
            if not isinstance(failed.value, LimiterBusy):
                break
        await limiter.aclose()
    assert outcomes[0] == "LimiterBusy"
    assert outcomes[-1] == "LimiterUnavailable" and failed.value.first


@pytest.mark.redis
async def test_two_limiters_share_one_redis_budget(redis_url: str, redis_prefix: str) -> None:
    one = Limiter(redis_url, key_prefix=redis_prefix)
    two = Limiter(redis_url, key_prefix=redis_prefix)
    windows = Tier("t", per_minute=5).windows
    allowed = [
        (await (one if i % 2 else two).hit(("api", "k"), windows, "sliding-window-counter")).allowed
        for i in range(8)
    ]
    moving = [(await one.hit(("m",), windows, "moving-window")).allowed for _ in range(6)]
    await one.aclose()
    await two.aclose()
    assert allowed == [True] * 5 + [False] * 3
    assert moving == [True] * 5 + [False]


def test_import_needs_neither_the_server_extra_nor_redis() -> None:
    code = (
        "import sys, gatepass.ratelimit;"
        "bad = {'starlette', 'fastapi', 'uvicorn', 'redis', 'coredis', 'sqlalchemy'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.redis
async def test_a_full_pool_is_back_pressure_for_that_request_only(
    redis_url: str, redis_prefix: str, harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Every pooled connection busy: the request waits ``pool_wait``, then is refused on its
    own (429, Retry-After). No breaker trips: the next request, with a connection free, counts."""
    limiter = Limiter(redis_url, key_prefix=redis_prefix, max_connections=2, pool_wait=0.2)
    pool = limiter._pool  # the limiter's own pool: hold every connection it has
    held = [await pool.get_connection() for _ in range(2)]
    caplog.set_level(logging.WARNING, "gatepass.ratelimit")
    for strategy in ("sliding-window-counter", "moving-window"):
        with pytest.raises(LimiterBusy) as busy:
            await limiter.hit(("k",), TIER.windows, strategy)  # type: ignore[arg-type]
        assert busy.value.retry_after == 1 and not busy.value.first
    client = harness(limiter=limiter).client()
    refused = await client.get("/api/items")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {"error": "rate_limit_exceeded", "retry_after": 1,
                              "error_description": "Too many requests in progress; retry shortly"}
    assert "ratelimit-policy" not in refused.headers
    for connection in held:
        await pool.release(connection)
    counted = await limiter.hit(("k",), TIER.windows, "sliding-window-counter")
    assert counted.allowed and counted.states[0].remaining == 1  # burst 2: this is the first
    assert (await client.get("/api/items")).status_code == 200
    assert caplog.records == []  # back-pressure is not an outage: nothing logged
    await limiter.aclose()


@pytest.mark.redis
async def test_a_burst_beyond_the_pool_waits_for_connections(
    redis_url: str, redis_prefix: str
) -> None:
    """Ten times more concurrent requests than connections: all are counted after a wait."""
    limiter = Limiter(redis_url, key_prefix=redis_prefix, max_connections=3, pool_wait=5.0)
    windows = Tier("t", per_minute=1000).windows
    decisions = await asyncio.gather(
        *(limiter.hit(("burst", str(i)), windows, "moving-window") for i in range(30)))
    await limiter.aclose()
    assert all(d.allowed for d in decisions)
