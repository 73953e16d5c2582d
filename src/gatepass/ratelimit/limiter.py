"""Counting on the ``limits`` library (async API): memory for one process, Redis for several.

``Limiter("memory://")`` keeps counters in this process; ``Limiter("redis://host:6379/0")``
shares them through Redis using redis-py's asyncio client (``redis`` is imported only then;
``coredis`` is not needed). A request is counted against its tier's windows shortest first
and stops at the first refusal: a request refused by the burst window does not use the minute
or day budget (one refused by the day window has used the shorter ones; it is refused anyway).
Each window is one atomic ``limits`` hit, then one concurrent read of every window's state.

Storage trouble (an error, or no answer within ``timeout``) raises :class:`LimiterUnavailable`
and trips a breaker: for ``cooldown`` seconds the storage is not tried at all, so an outage
costs no latency and logs one line per cooldown. The policy decides to fail open or closed.

Redis connections come from a blocking pool of ``max_connections``: a request finding them all
busy waits up to ``pool_wait`` seconds for one, then raises :class:`LimiterBusy`. That is local
back-pressure, not an outage: it trips no breaker and refuses that request only (the middleware
answers 429 with ``Retry-After``), so a burst beyond the pool never turns into 503s for all.
So is a timeout, until the storage has given no answer at all for ``patience`` seconds: on a
loaded process calls time out in bursts although the storage answers, because the answers wait
for the event loop. A connection error, or timeouts past that patience, are an outage.
``limits`` stamps windows with wall-clock time, so ``clock`` must be a wall clock in
production; it is injectable for the breaker and for the seconds derived from resets.

The sliding-window counter (the default strategy) has two faster paths with the same algorithm:
on ``memory://``, :class:`~gatepass.ratelimit._counters.SlidingWindowCounters` (synchronous, on
``clock``); on Redis, :class:`~gatepass.ratelimit._redis_counters.RedisSlidingWindows` (every
window in one script call instead of two calls per window). The moving window stays on
``limits``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import operator
import time
from typing import Any, NamedTuple, NoReturn

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError
from limits.storage import storage_from_string

from gatepass.clock import Clock, SystemClock
from gatepass.ratelimit._counters import SlidingWindowCounters
from gatepass.ratelimit._native import counters_class
from gatepass.ratelimit._redis_counters import RedisSlidingWindows
from gatepass.ratelimit.policy import Strategy, Window

__all__ = [
    "Decision",
    "Limiter",
    "LimiterBusy",
    "LimiterUnavailable",
    "WindowState",
    "decision_of",
]

logger = logging.getLogger("gatepass.ratelimit")


class LimiterUnavailable(Exception):
    """The counter storage did not answer; ``first`` is True for the failure that tripped it."""

    def __init__(self, message: str, *, first: bool) -> None:
        super().__init__(message)
        self.first = first


class LimiterBusy(LimiterUnavailable):
    """This request was not counted: every pooled connection stayed busy for ``pool_wait``
    seconds, or the storage answered too late while still within ``patience``. Back-pressure
    (answer 429 with ``retry_after``), not an outage; callers that only know
    :class:`LimiterUnavailable` treat it like one."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, first=False)
        self.retry_after = retry_after


def _pool_class() -> Any:
    """``redis.asyncio.BlockingConnectionPool`` whose wait timeout raises a ``PoolExhausted``
    (a ``ConnectionError``) that the limiter tells apart from a lost connection."""
    from redis.asyncio import BlockingConnectionPool
    from redis.exceptions import ConnectionError as RedisConnectionError

    class PoolExhausted(RedisConnectionError):
        """No pooled connection became free within the pool's timeout."""

    class WaitingPool(BlockingConnectionPool):
        exhausted = PoolExhausted

        async def get_connection(self, *args: Any, **options: Any) -> Any:
            try:
                return await super().get_connection()  # type: ignore[no-untyped-call]
            except RedisConnectionError as exc:
                # Only the wait for a free connection raises from asyncio's timeout; a failed
                # connect raises from the socket error.
                if type(exc) is RedisConnectionError and isinstance(
                        exc.__cause__, asyncio.TimeoutError):
                    raise PoolExhausted("no pooled Redis connection became free") from exc
                raise

    return WaitingPool


def _caused_by(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]
               ) -> bool:
    """Whether ``exc`` (or what it wraps: ``limits`` keeps it as ``storage_error``) is ``kind``."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = getattr(seen, "storage_error", None) or seen.__cause__
    return False


_REMAINING = operator.itemgetter(1)  # WindowState.remaining, without a lambda per call


class WindowState(NamedTuple):
    """One window after counting: requests left and when the next one frees (epoch seconds).

    Decisions are made on every request: immutable named tuples cost a third of frozen dataclasses.
    """

    window: Window
    remaining: int
    reset: float


class Decision(NamedTuple):
    """The outcome for one request: refused by which window (None: allowed), and every window."""

    refused_by: Window | None
    states: tuple[WindowState, ...]

    @property
    def allowed(self) -> bool:
        return self.refused_by is None

    @property
    def binding(self) -> WindowState:
        """The most restrictive window: fewest requests left; on a tie, the longer window."""
        return min(reversed(self.states), key=_REMAINING)

    def retry_after(self, now: float) -> int:
        """Whole seconds until every exhausted window has room again (at least 1)."""
        waits = [s.reset - now for s in self.states if s.remaining <= 0]
        return max(1, math.ceil(max(waits, default=1)))


class Limiter:
    """Counts hits per key in ``memory://`` or ``redis://`` / ``rediss://`` storage."""

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        key_prefix: str = "gatepass:rl",
        timeout: float = 0.25,
        cooldown: float = 1.0,
        clock: Clock | None = None,
        max_connections: int = 100,
        pool_wait: float = 1.0,
        patience: float = 5.0,
    ) -> None:
        self._clock = clock or SystemClock()
        self._timeout = None if storage_uri.startswith("memory://") else timeout
        self._max_connections = max_connections
        self._pool_wait = pool_wait
        self._patience = patience
        self._exhausted: type[BaseException] | None = None
        self._timeouts: tuple[type[BaseException], ...] = (TimeoutError,)
        self._quiet_since: float | None = None  # monotonic: the last answer (or first wait)
        self._cooldown = cooldown
        self._down_until = -math.inf
        self._pool: Any = None
        self._storage = self._open(storage_uri, key_prefix)
        memory = storage_uri.startswith("memory://")
        self._counters = counters_class()() if memory else None
        self._redis = None if memory else RedisSlidingWindows(self._pool, key_prefix)
        self._errors: tuple[type[Exception], ...] = (StorageError, OSError, TimeoutError)
        if not memory:
            from redis.exceptions import RedisError
            from redis.exceptions import TimeoutError as RedisTimeoutError

            self._errors += (RedisError,)
            self._timeouts += (RedisTimeoutError,)
        self._strategies: dict[Strategy, RateLimiter] = {
            "sliding-window-counter": SlidingWindowCounterRateLimiter(self._storage),
            "moving-window": MovingWindowRateLimiter(self._storage),
        }
        self._items: dict[Window, RateLimitItem] = {}

    def _open(self, uri: str, key_prefix: str) -> Storage:
        if uri.startswith("memory://"):
            return storage_from_string("async+memory://")  # type: ignore[return-value]
        if not uri.startswith(("redis://", "rediss://")):
            raise ValueError("rate-limit storage must be memory://, redis:// or rediss://")
        try:
            pool_class = _pool_class()
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Redis rate limiting needs: pip install 'gatepass[redis]'") from exc
        self._exhausted = pool_class.exhausted
        self._pool = pool_class.from_url(
            uri, socket_timeout=self._timeout, socket_connect_timeout=self._timeout,
            max_connections=self._max_connections, timeout=self._pool_wait,
        )
        storage = storage_from_string(
            f"async+{uri}",
            implementation="redispy",
            connection_pool=self._pool,
            key_prefix=key_prefix,
            wrap_exceptions=True,
        )
        return storage  # type: ignore[return-value]

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def cooldown(self) -> float:
        """Seconds the storage is skipped after a failure."""
        return self._cooldown

    def local_counters(self, strategy: Strategy) -> SlidingWindowCounters | None:
        """The in-process counters when they serve ``strategy`` (``memory://``, sliding window
        counter): counting there needs no await. None when the storage is elsewhere."""
        return self._counters if strategy == "sliding-window-counter" else None

    async def hit(
        self, key: tuple[str, ...], windows: tuple[Window, ...], strategy: Strategy
    ) -> Decision:
        """Count one request under ``key`` in every window; raise if the storage is down."""
        now = self._clock.now()
        local = self.local_counters(strategy)
        if local is not None:
            return decision_of(windows, *local.hit(key, windows, now))
        counting = strategy == "sliding-window-counter"
        if now < self._down_until:
            raise LimiterUnavailable("rate-limit storage is cooling down", first=False)
        # The deadline covers the wait for a pooled connection plus the storage's answer.
        deadline = None if self._timeout is None else self._timeout + self._pool_wait
        started = time.monotonic()
        try:
            async with asyncio.timeout(deadline):
                if self._redis is not None and counting:
                    decision = decision_of(windows, *await self._redis.hit(key, windows, now))
                else:
                    decision = await self._hit(self._strategies[strategy], key, windows)
        except self._errors as exc:
            self._busy_or_down(exc, started, now)
        self._quiet_since = time.monotonic()
        return decision

    def _busy_or_down(self, exc: Exception, started: float, now: float) -> NoReturn:
        """Raise :class:`LimiterBusy` for back-pressure (a full pool; a timeout within the
        patience), else trip the breaker and raise :class:`LimiterUnavailable`."""
        retry_after = max(1, math.ceil(self._pool_wait))
        if self._exhausted is not None and _caused_by(exc, self._exhausted):
            raise LimiterBusy(f"all {self._max_connections} rate-limit connections busy",
                              retry_after=retry_after) from exc
        if _caused_by(exc, self._timeouts):
            if self._quiet_since is None:
                self._quiet_since = started
            if time.monotonic() - self._quiet_since < self._patience:
                raise LimiterBusy("rate-limit storage answered too late",
                                  retry_after=retry_after) from exc
        self._down_until = now + self._cooldown
        logger.warning("rate-limit storage unavailable (%r); next try in %ss", exc, self._cooldown)
        raise LimiterUnavailable(f"rate-limit storage unavailable: {exc!r}", first=True) from exc

    async def _hit(
        self, limiter: RateLimiter, key: tuple[str, ...], windows: tuple[Window, ...]
    ) -> Decision:
        items = [self._item(w) for w in windows]
        refused: Window | None = None
        for window, item in zip(windows, items, strict=True):
            if not await limiter.hit(item, *key):
                refused = window
                break
        stats = await asyncio.gather(*(limiter.get_window_stats(i, *key) for i in items))
        states = tuple(
            WindowState(w, 0 if w is refused else s.remaining, s.reset_time)
            for w, s in zip(windows, stats, strict=True)
        )
        return Decision(refused, states)

    def _item(self, window: Window) -> RateLimitItem:
        item = self._items.get(window)
        if item is None:
            item = RateLimitItemPerSecond(window.limit, window.seconds, namespace="gatepass")
            self._items[window] = item
        return item

    async def aclose(self) -> None:
        """Close the Redis connection pool, if any (call from the app's lifespan)."""
        if self._pool is not None:
            await self._pool.disconnect()


def decision_of(
    windows: tuple[Window, ...], refused: Window | None, lefts: list[int], resets: list[float]
) -> Decision:
    """A ``Decision`` from per-window counts (in the order of ``windows``)."""
    return Decision(refused, tuple(map(WindowState, windows, lefts, resets)))
