"""Sliding-window counters in Redis, every window of a request in one script call (one round trip).

The per-window logic is ``limits``' (``acquire_sliding_window.lua`` then ``sliding_window.lua``):
two keys per window, the current one shifted to the previous one by its TTL (Redis' clock, so
instances need not agree on time), the previous count weighted by its remaining TTL. Windows are
counted shortest first and counting stops at the first refusal, exactly like the ``limits`` path;
the script then reads every window's counts so the remaining and reset figures need no second
round trip. ``limits`` needed two calls per window (six for a tier with burst, minute and day),
which made Redis rate limiting cost several times the request it guarded.

Keys are ``<prefix>:{<key parts>}:<limit>/<seconds>:p|c``; the hash tag keeps one caller's keys
in one Redis Cluster slot.
"""

from __future__ import annotations

from typing import Any

from gatepass.ratelimit.policy import Window

__all__ = ["RedisSlidingWindows"]

_SCRIPT = """
local out, refused = {}, 0
for i = 1, #KEYS / 2 do
  local limit, expiry = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]) * 1000
  local pk, ck = KEYS[2 * i - 1], KEYS[2 * i]
  local cttl = redis.call('pttl', ck)
  if cttl > 0 and cttl < expiry then
    redis.call('rename', ck, pk)
    redis.call('set', ck, 0, 'PX', cttl + expiry)
  end
  local pc = tonumber(redis.call('get', pk)) or 0
  local pttl = math.max(redis.call('pttl', pk), 0)
  local cc = tonumber(redis.call('get', ck)) or 0
  if refused == 0 then
    if math.floor(pc * pttl / expiry) + cc + 1 > limit then
      refused = i
    elseif redis.call('exists', ck) == 1 then
      cc = redis.call('incrby', ck, 1)
    else
      redis.call('set', ck, 1, 'PX', expiry * 2)
      cc = 1
    end
  end
  out[#out + 1] = pc
  out[#out + 1] = pttl
  out[#out + 1] = cc
  out[#out + 1] = math.max(redis.call('pttl', ck), 0)
end
table.insert(out, 1, refused)
return out
"""


class RedisSlidingWindows:
    """``hit`` for the sliding-window-counter strategy on a redis-py asyncio connection pool."""

    def __init__(self, pool: Any, key_prefix: str) -> None:
        from redis.asyncio import Redis

        self._client = Redis(connection_pool=pool)
        self._script = self._client.register_script(_SCRIPT)
        self._prefix = key_prefix

    async def hit(
        self, key: tuple[str, ...], windows: tuple[Window, ...], now: float
    ) -> tuple[Window | None, list[int], list[float]]:
        """The refusing window (None: counted everywhere), then per window the requests left
        (0 for the refusing window) and when the next one frees up."""
        base = f"{self._prefix}:{{{'/'.join(key)}}}"
        keys: list[str] = []
        args: list[int] = []
        for w in windows:
            keys += [f"{base}:{w.limit}/{w.seconds}:p", f"{base}:{w.limit}/{w.seconds}:c"]
            args += [w.limit, w.seconds]
        found = [int(v) for v in await self._script(keys=keys, args=args)]
        refused = windows[found[0] - 1] if found[0] else None
        lefts, resets = [], []
        for i, window in enumerate(windows):
            previous, previous_ms, current, current_ms = found[1 + 4 * i : 5 + 4 * i]
            left, reset = _state(window, previous, previous_ms, current, current_ms, now)
            lefts.append(0 if window is refused else left)
            resets.append(reset)
        return refused, lefts, resets


def _state(
    window: Window, previous: int, previous_ms: int, current: int, current_ms: int, now: float
) -> tuple[int, float]:
    """``limits``' ``get_window_stats`` for one window from the counts and TTLs (ms) read."""
    seconds = window.seconds
    previous_ttl, current_ttl = previous_ms / 1000, current_ms / 1000
    weighted = previous * previous_ttl / seconds + current
    remaining = max(0, window.limit - int(weighted))
    if not (previous or current):
        return remaining, now
    resets = [previous_ttl % (seconds / previous)] if previous else []
    if current:
        resets.append(current_ttl % seconds)
    return remaining, now + min(resets)
