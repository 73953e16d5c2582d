"""Audit trail: every issuance and refusal becomes an ``AuditEvent``, batched to the store.

Events are buffered and written in batches (no write per request on the token path); a failed
write keeps them for the next flush, up to a bound, and ``close`` flushes what is left.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from gatepass.clock import Clock
from gatepass.models import AuditEvent
from gatepass.storage.base import AuditLog, StorageError

__all__ = ["Auditor"]

MAX_BUFFER = 100_000


class Auditor:
    """Collects audit events and writes them to an ``AuditLog`` in batches."""

    def __init__(
        self,
        log: AuditLog,
        clock: Clock,
        on_event: Callable[[AuditEvent], None] | None = None,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        self._log = log
        self._clock = clock
        self._on_event = on_event
        self._on_flush = on_flush
        self._buffer: list[AuditEvent] = []
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
        ev = AuditEvent(
            event=event,
            outcome=outcome,  # type: ignore[arg-type]
            at=self._clock.now(),
            client_id=client_id,
            scopes=scopes,
            reason=reason,
            actor=actor,
            details=details,
            event_id=secrets.token_hex(12),
        )
        if len(self._buffer) < MAX_BUFFER:
            self._buffer.append(ev)
        else:
            self.dropped += 1
        if self._on_event is not None:
            self._on_event(ev)
        return ev

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Write buffered events; on a storage error they stay buffered. Returns how many.

        ``on_flush`` (e.g. the batched log writer) runs first: it does not need the store."""
        if self._on_flush is not None:
            self._on_flush()
        if not self._buffer:
            return 0
        batch, self._buffer = self._buffer, []
        try:
            await self._log.record(batch)
        except StorageError:
            self._buffer = batch + self._buffer
            raise
        return len(batch)
