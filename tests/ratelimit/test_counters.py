"""The faster sliding-window counters (memory, Redis) decide as ``limits``' storages do.

The memory counters are checked twice: the pure-Python module and its mypyc build
(``scripts/build_native.py``, run by ``make install``), which the limiter uses when present.
"""

from __future__ import annotations

import importlib
import random
import time

import pytest
from limits import RateLimitItemPerSecond
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from gatepass.clock import FrozenClock
from gatepass.ratelimit import Limiter, Tier, Window, _counters
from gatepass.ratelimit._native import counters_class
from gatepass.ratelimit.middleware import _binding

TIER = Tier("t", per_minute=7, burst=3, burst_window=2, window=10)


async def _reference(key: tuple[str, ...], windows: tuple[Window, ...]
                     ) -> tuple[Window | None, list[int], list[float]]:
    """What ``Limiter`` computed with ``limits`` before the fast path (time.time patched)."""
    items = [RateLimitItemPerSecond(w.limit, w.seconds, namespace="ref") for w in windows]
    refused = None
    for window, item in zip(windows, items, strict=True):
        if not await REFERENCE.hit(item, *key):
            refused = window
            break
    stats = [await REFERENCE.get_window_stats(i, *key) for i in items]
    lefts = [0 if w is refused else s.remaining for w, s in zip(windows, stats, strict=True)]
    return refused, lefts, [s.reset_time for s in stats]


Counters = type[_counters.SlidingWindowCounters]


@pytest.fixture(params=["pure", "native"])
def counters(request: pytest.FixtureRequest) -> Counters:
    """Each implementation of the in-process counters (the compiled one when it was built)."""
    if request.param == "pure":
        return _counters.SlidingWindowCounters
    try:
        native = importlib.import_module("gatepass.ratelimit._counters_native")
    except ImportError:
        pytest.skip("the compiled counters are not built (scripts/build_native.py)")
    found: Counters = native.SlidingWindowCounters
    return found


REFERENCE = SlidingWindowCounterRateLimiter(storage_from_string("async+memory://"))  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(6))
async def test_same_decisions_as_limits_memory_storage(seed: int, counters: Counters,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    await REFERENCE.storage.reset()
    rng = random.Random(seed)
    clock = FrozenClock(1_700_000_000.0 + rng.random() * 100)
    monkeypatch.setattr(time, "time", clock.now)
    table = counters()
    for _ in range(300):
        clock.advance(rng.choice([0.0, 0.05, 0.3, 0.9, 2.5, 11.0]) * rng.random())
        key = ("api", "t", "client", rng.choice("abc"))
        refused, lefts, resets = table.hit(key, TIER.windows, clock.now())
        expected = await _reference(key, TIER.windows)
        assert (refused, lefts) == expected[:2]
        assert resets == pytest.approx(expected[2], abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_admit_is_count_binding_and_reset_in_one_pass(seed: int, counters: Counters) -> None:
    """``admit`` (the middleware's path) on one table, ``hit`` on a twin: the same counts, and
    when ``admit`` refuses to count, nothing changed and ``hit`` refuses."""
    rng = random.Random(seed)
    now = 1_700_000_000.0 + rng.random() * 100
    fast, twin = counters(), counters()
    admitted = refused = 0
    for _ in range(400):
        now += rng.choice([0.0, 0.05, 0.3, 0.9, 2.5, 11.0]) * rng.random()
        key = ("api", "t", "client", rng.choice("abc"))
        found = fast.admit(key, TIER.windows, now)
        if found is None:
            refused += 1
            mine = fast.hit(key, TIER.windows, now)
            assert mine[0] is not None and mine == twin.hit(key, TIER.windows, now)
            continue
        admitted += 1
        window, lefts, resets = twin.hit(key, TIER.windows, now)
        assert window is None
        index = _binding(lefts)
        assert found == (index, lefts[index], resets[index])
    assert admitted > 100 and refused > 10  # both branches ran


async def test_limiter_uses_them_on_memory_with_its_clock() -> None:
    clock = FrozenClock(1_000.0)
    limiter = Limiter("memory://", clock=clock)
    windows = Tier("t", per_minute=2).windows
    first = await limiter.hit(("k",), windows, "sliding-window-counter")
    await limiter.hit(("k",), windows, "sliding-window-counter")
    third = await limiter.hit(("k",), windows, "sliding-window-counter")
    assert first.allowed and first.states[0].remaining == 1
    assert third.refused_by == windows[0] and third.states[0].remaining == 0
    clock.advance(120)  # two windows later: the old counts are gone
    assert (await limiter.hit(("k",), windows, "sliding-window-counter")).allowed


def test_finished_buckets_are_swept(counters: Counters) -> None:
    table = counters()
    windows = (Window("s", 5, 1),)
    for n in range(5000):
        table.hit(("ip", str(n)), windows, 100.0)
    for n in range(5000):  # the table doubles on the way: the 100.0 buckets are over by now
        table.hit(("ip", f"late-{n}"), windows, 103.0)
    assert len(table) == 5000


def test_the_compiled_counters_serve_only_when_built_from_this_source(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    pick = counters_class.__wrapped__  # not the per-process cached answer
    try:
        native = importlib.import_module("gatepass.ratelimit._counters_native")
    except ImportError:
        assert pick() is _counters.SlidingWindowCounters
        return
    assert pick() is native.SlidingWindowCounters
    monkeypatch.setenv("GATEPASS_NATIVE", "0")
    assert pick() is _counters.SlidingWindowCounters
    monkeypatch.delenv("GATEPASS_NATIVE")
    monkeypatch.setattr(native, "SOURCE_SHA256", "0" * 64)  # built from another source
    assert pick() is _counters.SlidingWindowCounters
    assert "built from another _counters.py" in caplog.text


@pytest.mark.redis
async def test_redis_one_call_per_request_decides_as_limits_redis(redis_url: str,
                                                                  redis_prefix: str) -> None:
    import redis.asyncio
    from limits.aio.storage import RedisStorage

    pool = redis.asyncio.ConnectionPool.from_url(redis_url)
    reference_storage = RedisStorage(redis_url, key_prefix=redis_prefix + "-ref",
                                     implementation="redispy", connection_pool=pool)
    reference = SlidingWindowCounterRateLimiter(reference_storage)
    limiter = Limiter(redis_url, key_prefix=redis_prefix)
    tier = Tier("t", per_minute=5, burst=3, burst_window=30, window=120)
    items = [RateLimitItemPerSecond(w.limit, w.seconds, namespace="ref") for w in tier.windows]
    for n in range(8):
        key = ("api", "t", "client", "abc"[n % 2])
        mine = await limiter.hit(key, tier.windows, "sliding-window-counter")
        allowed = True
        for item in items:
            if not await reference.hit(item, *key):
                allowed = False
                break
        stats = [await reference.get_window_stats(i, *key) for i in items]
        assert mine.allowed == allowed
        assert [s.remaining for s in mine.states] == [
            0 if w is mine.refused_by else s.remaining
            for w, s in zip(tier.windows, stats, strict=True)]
        for state, stat in zip(mine.states, stats, strict=True):
            # TTLs are read a few ms apart; limits' reset jumps a whole window when a TTL of
            # 2 windows crosses a millisecond boundary, so compare modulo the window
            apart = (state.reset - stat.reset_time + 1) % state.window.seconds - 1
            assert abs(apart) < 0.1
    await limiter.aclose()
    await pool.disconnect()
