"""Sliding-window counters in this process: the ``limits`` algorithm without its async storage.

The same arithmetic as ``limits``' sliding-window-counter strategy on ``memory://`` (a bucket per
window length, the previous bucket weighted by how much of it still overlaps the window; refuse
when ``floor(weighted) + 1 > limit``; the same remaining and reset figures), done synchronously:
no lock, no task, no key strings, one dict lookup per request. It is atomic because nothing in
it awaits. ``limits``' memory storage starts an expiry task on every increment and takes a lock
per key, which made counting cost more than verifying the token (``bench/resource_server.py``).

Entries whose buckets are all over are swept when the table has doubled since the last sweep.
"""

from __future__ import annotations

from math import floor as _floor

from gatepass.ratelimit.policy import Window

__all__ = ["SlidingWindowCounters"]

_MIN_SWEEP = 4096


class _Entry:
    """One key's counters for one tuple of windows: per window [bucket, current, previous]."""

    __slots__ = ("counts", "windows")

    def __init__(self, windows: tuple[Window, ...]) -> None:
        self.windows = windows
        # (index, seconds, limit, counts) per window, unpacked once per request, not per field
        self.counts = tuple((i, w.seconds, w.limit, [-1, 0, 0]) for i, w in enumerate(windows))

    def live(self, now: float) -> bool:
        """Whether any window's bucket is still the current or the previous one."""
        return any(int(now / seconds) <= counts[0] + 1 for _, seconds, _, counts in self.counts)


class SlidingWindowCounters:
    """Per-key counters; ``hit`` counts in every window up to the first refusal."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._sweep_at = _MIN_SWEEP

    def __len__(self) -> int:
        return len(self._entries)

    def count(
        self, key: tuple[str, ...], windows: tuple[Window, ...], now: float
    ) -> tuple[_Entry, int, list[int]]:
        """Count one request in every window up to the first refusal: the key's entry, the index
        of the refusing window (-1: none), and per window the requests left (0 for the refusing
        one). ``reset`` gives a window's reset when it is needed."""
        entry = self._entry(key, windows, now)
        refused = -1
        lefts: list[int] = []
        for _, seconds, limit, counts in entry.counts:
            remaining = limit - _used(counts, seconds, now)
            if refused < 0:
                if remaining < 1:
                    refused = len(lefts)
                    lefts.append(0)
                    continue
                counts[1] += 1
                remaining -= 1
            lefts.append(remaining if remaining > 0 else 0)
        return entry, refused, lefts

    def admit(
        self, key: tuple[str, ...], windows: tuple[Window, ...], now: float
    ) -> tuple[int, int, float] | None:
        """The usual case in one pass: when every window has room, count the request in each and
        return the binding window (the fewest left; on a tie, the longer window): its index,
        requests left and reset, as ``count`` and ``reset`` would give them; when one has none,
        count nothing and return None (``count`` then refuses it)."""
        entry = self._entry(key, windows, now)
        least, bound, bound_seconds, bound_counts = -1, 0, 1, entry.counts[0][3]
        for index, seconds, limit, counts in entry.counts:
            position = now / seconds  # ``_used`` inlined: this runs on every request
            bucket = _floor(position)
            if counts[0] != bucket:
                counts[2] = counts[1] if counts[0] == bucket - 1 else 0
                counts[0], counts[1] = bucket, 0
            _, current, previous = counts
            left = limit - 1 - (int(previous * (bucket + 1 - position) + current) if previous
                                else current)
            if left < 0:
                for _, _, _, earlier in entry.counts[:index]:
                    earlier[1] -= 1
                return None
            counts[1] = current + 1
            if least < 0 or left <= least:  # the fewest left; on a tie, the longer window
                least, bound, bound_seconds, bound_counts = left, index, seconds, counts
        return bound, least, _reset(bound_seconds, bound_counts, now)

    @staticmethod
    def reset(entry: _Entry, index: int, now: float) -> float:
        """When the next request frees up in window ``index`` (``limits``' get_window_stats),
        right after ``count`` at the same ``now``."""
        _, seconds, _, counts = entry.counts[index]
        return _reset(seconds, counts, now)

    def hit(
        self, key: tuple[str, ...], windows: tuple[Window, ...], now: float
    ) -> tuple[Window | None, list[int], list[float]]:
        """``count``, then every window's reset: (refusing window or None, lefts, resets)."""
        entry, refused, lefts = self.count(key, windows, now)
        resets = [self.reset(entry, i, now) for i in range(len(windows))]
        return (windows[refused] if refused >= 0 else None), lefts, resets

    def _entry(self, key: tuple[str, ...], windows: tuple[Window, ...], now: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None or (entry.windows is not windows and entry.windows != windows):
            if len(self._entries) >= self._sweep_at:
                self._sweep(now)
            entry = self._entries[key] = _Entry(windows)
        return entry

    def _sweep(self, now: float) -> None:
        """Drop entries none of whose buckets is still the current or the previous one."""
        self._entries = {key: entry for key, entry in self._entries.items() if entry.live(now)}
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._entries))


def _used(counts: list[int], seconds: int, now: float) -> int:
    """Roll the window's buckets to ``now`` and return its weighted count: the current bucket
    plus the share of the previous one still inside the window."""
    position = now / seconds
    bucket = _floor(position)
    if counts[0] != bucket:  # roll: the current bucket becomes the previous one
        counts[2] = counts[1] if counts[0] == bucket - 1 else 0
        counts[0], counts[1] = bucket, 0
    _, current, previous = counts
    # bucket + 1 - position is 1 - (position % 1), exactly (and cheaper) for position >= 0
    return int(previous * (bucket + 1 - position) + current) if previous else current


def _reset(seconds: int, counts: list[int], now: float) -> float:
    """When the next request frees up in a window with these (rolled) buckets."""
    _, current, previous = counts
    if not (previous or current):
        return now
    until = (1 - now / seconds % 1) * seconds
    reset = now + (until + seconds) % seconds if current else now + seconds
    if previous:
        sooner = now + until % (seconds / previous)
        if sooner < reset:
            return sooner
    return reset
