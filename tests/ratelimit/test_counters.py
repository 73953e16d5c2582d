"""The in-process sliding-window counters decide exactly as ``limits``' memory storage does."""

from __future__ import annotations

import random
import time

import pytest
from limits import RateLimitItemPerSecond
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from gatepass.clock import FrozenClock
from gatepass.ratelimit import Limiter, Tier, Window
from gatepass.ratelimit._counters import SlidingWindowCounters

TIER = Tier("t", per_minute=7, burst=3, burst_window=2, window=10)


async def _reference(key: tuple[str, ...], windows: tuple[Window, ...]
                     ) -> tuple[Window | None, list[tuple[int, float]]]:
    """What ``Limiter`` computed with ``limits`` before the fast path (time.time patched)."""
    items = [RateLimitItemPerSecond(w.limit, w.seconds, namespace="ref") for w in windows]
    refused = None
    for window, item in zip(windows, items, strict=True):
        if not await REFERENCE.hit(item, *key):
            refused = window
            break
    stats = [await REFERENCE.get_window_stats(i, *key) for i in items]
    return refused, [(s.remaining, s.reset_time) for s in stats]


REFERENCE = SlidingWindowCounterRateLimiter(storage_from_string("async+memory://"))  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(6))
async def test_same_decisions_as_limits_memory_storage(seed: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    await REFERENCE.storage.reset()
    rng = random.Random(seed)
    clock = FrozenClock(1_700_000_000.0 + rng.random() * 100)
    monkeypatch.setattr(time, "time", clock.now)
    counters = SlidingWindowCounters()
    for _ in range(300):
        clock.advance(rng.choice([0.0, 0.05, 0.3, 0.9, 2.5, 11.0]) * rng.random())
        key = ("api", "t", "client", rng.choice("abc"))
        mine = counters.hit(key, TIER.windows, clock.now())
        expected = await _reference(key, TIER.windows)
        assert mine[0] == expected[0]
        for (remaining, reset), (ref_remaining, ref_reset) in zip(mine[1], expected[1],
                                                                  strict=True):
            assert remaining == ref_remaining
            assert reset == pytest.approx(ref_reset, abs=1e-6)


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


def test_finished_buckets_are_swept() -> None:
    counters = SlidingWindowCounters()
    windows = (Window("s", 5, 1),)
    for n in range(5000):
        counters.hit(("ip", str(n)), windows, 100.0)
    for n in range(5000):  # the table doubles on the way: the 100.0 buckets are over by now
        counters.hit(("ip", f"late-{n}"), windows, 103.0)
    assert len(counters) == 5000
