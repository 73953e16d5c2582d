"""Sliding-window counters in this process: the ``limits`` algorithm without its async storage.

The same arithmetic as ``limits``' sliding-window-counter strategy on ``memory://`` (a bucket per
window length, the previous bucket weighted by how much of it still overlaps the window; refuse
when ``floor(weighted) + 1 > limit``; the same remaining and reset figures), done synchronously:
no lock, no task, no key strings, one dict lookup per window. It is atomic because nothing in it
awaits. ``limits``' memory storage starts an expiry task on every increment and takes a lock per
key, which made counting cost more than verifying the token (see ``bench/resource_server.py``).

Records whose buckets are over are swept when the table has doubled since the last sweep.
"""

from __future__ import annotations

import math

from gatepass.ratelimit.policy import Window

__all__ = ["SlidingWindowCounters"]

_MIN_SWEEP = 4096


class _Record:
    __slots__ = ("bucket", "current", "previous")

    def __init__(self, bucket: int) -> None:
        self.bucket, self.current, self.previous = bucket, 0, 0

    def roll(self, bucket: int) -> None:
        if bucket != self.bucket:
            self.previous = self.current if bucket == self.bucket + 1 else 0
            self.current, self.bucket = 0, bucket


class SlidingWindowCounters:
    """Per (key, window) counters; ``hit`` counts in every window up to the first refusal."""

    def __init__(self) -> None:
        self._records: dict[tuple[tuple[str, ...], Window], _Record] = {}
        self._sweep_at = _MIN_SWEEP

    def __len__(self) -> int:
        return len(self._records)

    def hit(
        self, key: tuple[str, ...], windows: tuple[Window, ...], now: float
    ) -> tuple[Window | None, list[tuple[int, float]]]:
        """The refusing window (None: counted everywhere) and ``(remaining, reset)`` per window."""
        refused: Window | None = None
        states: list[tuple[int, float]] = []
        for window in windows:
            record = self._record(key, window, now)
            if refused is None:
                if math.floor(self._weighted(record, window, now)) + 1 > window.limit:
                    refused = window
                else:
                    record.current += 1
            states.append(self._state(record, window, now))
        return refused, states

    def _record(self, key: tuple[str, ...], window: Window, now: float) -> _Record:
        bucket = int(now / window.seconds)
        record = self._records.get((key, window))
        if record is None:
            if len(self._records) >= self._sweep_at:
                self._sweep(now)
            record = self._records[key, window] = _Record(bucket)
        else:
            record.roll(bucket)
        return record

    @staticmethod
    def _weighted(record: _Record, window: Window, now: float) -> float:
        left = 1 - (now / window.seconds) % 1  # share of the previous bucket still in the window
        return record.previous * left + record.current

    def _state(self, record: _Record, window: Window, now: float) -> tuple[int, float]:
        seconds = window.seconds
        remaining = max(0, window.limit - math.floor(self._weighted(record, window, now)))
        if not (record.previous or record.current):
            return remaining, now
        left = (1 - (now / seconds) % 1) * seconds
        resets = [left % (seconds / record.previous)] if record.previous else []
        if record.current:
            resets.append((left + seconds) % seconds)
        return remaining, now + min(resets)

    def _sweep(self, now: float) -> None:
        """Drop records whose current bucket is no longer even the previous one."""
        self._records = {
            k: r for k, r in self._records.items() if int(now / k[1].seconds) <= r.bucket + 1
        }
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._records))
