"""Storage failures in the logs: one line per failure kind per interval, with a count.

During an outage every request fails the same way; a traceback each (12 KB apiece) would
bury the logs (a 15-second PostgreSQL outage wrote 28.5 MB). ``storage_failure`` logs the
first failure of a kind at once, then at most one line per ``INTERVAL`` seconds for that kind,
saying how many were not logged since the last line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gatepass.storage.base import StorageError

__all__ = ["INTERVAL", "FailureLog", "failure_kind", "storage_failure"]

INTERVAL = 10.0
_KINDS_MAX = 256


class FailureLog:
    """Counts failures by kind; logs a kind's first one, then one line per ``interval``."""

    def __init__(self, logger: logging.Logger, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log, self._interval, self._clock = logger, interval, clock
        self._kinds: dict[str, list[float]] = {}  # kind -> [last line at, failures since]

    def record(self, kind: str, where: str) -> bool:
        """Count one failure; True if this one was logged."""
        now = self._clock()
        entry = self._kinds.get(kind)
        if entry is not None and now - entry[0] < self._interval:
            entry[1] += 1
            return False
        if len(self._kinds) >= _KINDS_MAX:
            self._kinds.clear()
        since = int(entry[1]) if entry is not None else 0
        self._log.warning("storage failure (%s) on %s; %d more since the last line of this kind",
                          kind, where, since)
        self._kinds[kind] = [now, 0]
        return True


_failures = FailureLog(logging.getLogger("gatepass.http"))


def failure_kind(exc: BaseException) -> str:
    """The exception's type and those of its causes (``StorageError<-OperationalError``): no
    message, which may carry a connection string."""
    names, seen = [], exc
    for _ in range(4):
        names.append(type(seen).__name__)
        if seen.__cause__ is None:
            break
        seen = seen.__cause__
    return "<-".join(names)


def storage_failure(exc: StorageError, where: str) -> None:
    """Log ``exc`` (a storage failure while serving ``where``) without a traceback, throttled."""
    _failures.record(failure_kind(exc), where)
