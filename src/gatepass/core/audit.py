"""Audit trail: every issuance and refusal becomes an ``AuditEvent``, batched to the store.

``emit`` only records the event (it runs on the token path); the flush does the rest in one
batch: the ``on_batch`` observers (log lines, metrics) see each event once, then the store
write. A failed write keeps the events for the next flush, up to a bound, and ``close`` (the
runtime's) flushes what is left.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from gatepass.clock import Clock
from gatepass.models import AuditEvent
from gatepass.storage.base import AuditLog, StorageError

__all__ = ["Auditor", "BatchObserver"]

MAX_BUFFER = 100_000
BatchObserver = Callable[[Sequence[AuditEvent]], None]
_logger = logging.getLogger("gatepass.audit")


class Auditor:
    """Collects audit events and writes them to an ``AuditLog`` in batches.

    ``on_event`` sees each event as it is emitted (tests use it); ``on_batch`` sees the new
    events of each flush, once, before they are stored.
    """

    def __init__(
        self,
        log: AuditLog,
        clock: Clock,
        on_event: Callable[[AuditEvent], None] | None = None,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._log = log
        self._clock = clock
        self._on_event = on_event
        self._on_batch = on_batch
        self._fresh: list[AuditEvent] = []  # not yet seen by on_batch
        self._unsaved: list[AuditEvent] = []  # seen, not yet stored (a write failed)
        # Event ids: a random per-process prefix and a counter (unique without a syscall each).
        self._prefix = secrets.token_hex(6)
        self._serial = itertools.count()
        self.dropped = 0

    def emit(
        self,
        event: str,
        outcome: str,
        *,
        client_id: str | None = None,
        scopes: tuple[str, ...] = (),
        reason: str | None = None,
        actor: str | None = None,
        **details: Any,
    ) -> AuditEvent:
        """Record one event (buffered); returns it."""
        ev = AuditEvent(event, outcome, self._clock.now(), client_id, scopes,  # type: ignore[arg-type]
                        reason, actor, details, f"{self._prefix}{next(self._serial):012x}")
        if len(self._fresh) + len(self._unsaved) < MAX_BUFFER:
            self._fresh.append(ev)
        else:
            self.dropped += 1
        if self._on_event is not None:
            self._on_event(ev)
        return ev

    @property
    def pending(self) -> int:
        return len(self._fresh) + len(self._unsaved)

    async def flush(self) -> int:
        """Show new events to ``on_batch``, then store every unsaved one; on a storage error they
        stay buffered (and are not shown again). Returns how many were stored."""
        fresh, self._fresh = self._fresh, []
        if fresh and self._on_batch is not None:
            try:
                self._on_batch(fresh)
            except Exception:  # an observer's failure must not cost the stored trail
                _logger.exception("audit observer failed")
        batch, self._unsaved = self._unsaved + fresh, []
        if not batch:
            return 0
        try:
            await self._log.record(batch)
        except (StorageError, asyncio.CancelledError):
            # kept for the next flush; the store ignores ids it already has, so a write that
            # did land before a cancellation is not stored twice
            self._unsaved = batch + self._unsaved
            raise
        return len(batch)
