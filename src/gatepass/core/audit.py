"""Audit trail: every issuance and refusal becomes an ``AuditEvent``, batched to the store.

``emit`` only records the event (it runs on the token path); the flush does the rest in one
batch: the ``on_batch`` observers (log lines, metrics) see each event once, then the store
write. Every string an event carries is sanitized first (control characters, NUL included,
escaped as ``\\xNN``; lone surrogates escaped; lengths capped): a claimed ``client_id`` from a
hostile request must not make the store refuse the batch.

Failures: a write that fails for want of the store (``StorageError``) keeps the events for the
next flush, up to ``MAX_BUFFER`` (beyond it new events are counted in ``dropped``). A write the
store refuses for its data (``DataRejected``) is split and retried event by event; an event
that still cannot be written goes to the dead-letter file (JSON lines), is counted in
``dead_lettered`` and logged in one line per flush, and is never retried. ``close`` flushes
once more and writes what it could not store to the dead-letter file.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gatepass.clock import Clock
from gatepass.models import AuditEvent
from gatepass.storage.base import AuditLog, DataRejected, StorageError

__all__ = ["Auditor", "BatchObserver", "DeadLetterFile", "sanitize"]

MAX_BUFFER = 100_000
BatchObserver = Callable[[Sequence[AuditEvent]], None]
_logger = logging.getLogger("gatepass.audit")

# Caps: the SQL columns (event 128, client_id and actor 255) and a bound on everything else.
ID_CAP, TEXT_CAP, ITEMS_CAP, DEPTH_CAP = 255, 1024, 100, 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def sanitize(text: str, cap: int = TEXT_CAP) -> str:
    """``text`` safe for any store and log: lone surrogates and control characters escaped,
    at most ``cap`` characters (a cut is marked with a trailing ``…``)."""
    if not text.isprintable() or not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        text = _CONTROL.sub(_escape, text)
    return text if len(text) <= cap else text[: cap - 1] + "…"


def _clean(value: Any, depth: int = 0) -> Any:
    """A detail value with every string sanitized and containers bounded."""
    if isinstance(value, str):
        return sanitize(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= DEPTH_CAP:
        return sanitize(repr(value))
    if isinstance(value, Mapping):
        items = list(value.items())[:ITEMS_CAP]
        return {sanitize(str(k), ID_CAP): _clean(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, depth + 1) for v in list(value)[:ITEMS_CAP]]
    return sanitize(str(value))


def _optional(text: str | None, cap: int) -> str | None:
    return None if text is None else sanitize(str(text), cap)


class DeadLetterFile:
    """Events the store refused, appended as JSON lines (created 0600; one write per batch)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, events: Sequence[AuditEvent], error: str) -> None:
        lines = "".join(json.dumps({
            "event_id": ev.event_id, "event": ev.event, "outcome": ev.outcome, "at": ev.at,
            "client_id": ev.client_id, "scopes": list(ev.scopes), "reason": ev.reason,
            "actor": ev.actor, "details": _clean(dict(ev.details)), "error": error,
        }, ensure_ascii=True, default=str) + "\n" for ev in events)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(lines)


class Auditor:
    """Collects audit events and writes them to an ``AuditLog`` in batches.

    ``on_event`` sees each event as it is emitted (tests use it); ``on_batch`` sees the new
    events of each flush, once, before they are stored. ``dead_letter`` receives the events
    the store refuses for their content (None: they are logged and counted, then dropped).
    """

    def __init__(
        self,
        log: AuditLog,
        clock: Clock,
        on_event: Callable[[AuditEvent], None] | None = None,
        on_batch: BatchObserver | None = None,
        dead_letter: DeadLetterFile | None = None,
    ) -> None:
        self._log = log
        self._clock = clock
        self._on_event = on_event
        self._on_batch = on_batch
        self._dead_letter = dead_letter
        self._fresh: list[AuditEvent] = []  # not yet seen by on_batch
        self._unsaved: list[AuditEvent] = []  # seen, not yet stored (a write failed)
        # Event ids: a random per-process prefix and a counter (unique without a syscall each).
        self._prefix = secrets.token_hex(6)
        self._serial = itertools.count()
        self.dropped = 0  # buffer full: never seen by the store
        self.dead_lettered = 0  # refused by the store: in the dead-letter file

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
        """Record one event (buffered, sanitized); returns it."""
        ev = AuditEvent(
            sanitize(event, 128), outcome, self._clock.now(),  # type: ignore[arg-type]
            _optional(client_id, ID_CAP),
            tuple(sanitize(str(s), ID_CAP) for s in list(scopes)[:ITEMS_CAP]),
            _optional(reason, TEXT_CAP), _optional(actor, ID_CAP),
            _clean(details) if details else details, f"{self._prefix}{next(self._serial):012x}")
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

    def lag(self) -> float:
        """Seconds since the oldest event not yet stored was emitted (0 when none waits)."""
        oldest = self._unsaved[0] if self._unsaved else (self._fresh[0] if self._fresh else None)
        return 0.0 if oldest is None else max(0.0, self._clock.now() - oldest.at)

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
        except DataRejected:
            return await self._one_by_one(batch)
        except (StorageError, asyncio.CancelledError):
            # kept for the next flush; the store ignores ids it already has, so a write that
            # did land before a cancellation is not stored twice
            self._unsaved = batch + self._unsaved
            raise
        return len(batch)

    async def _one_by_one(self, batch: list[AuditEvent]) -> int:
        """Store a refused batch event by event; the refused ones go to the dead letters."""
        stored = 0
        refused: list[AuditEvent] = []
        error = ""
        for i, ev in enumerate(batch):
            try:
                await self._log.record([ev])
                stored += 1
            except DataRejected as exc:
                refused.append(ev)
                error = str(exc)
            except (StorageError, asyncio.CancelledError):
                self._unsaved = batch[i:] + self._unsaved
                self._bury(refused, error)
                raise
        self._bury(refused, error)
        return stored

    def _bury(self, events: list[AuditEvent], error: str) -> None:
        """Dead-letter events that cannot be stored: one log line per call, never retried."""
        if not events:
            return
        self.dead_lettered += len(events)
        where = "dropped (no dead-letter file configured)"
        if self._dead_letter is not None:
            try:
                self._dead_letter.write(events, error)
                where = f"written to {self._dead_letter.path}"
            except OSError as exc:
                where = f"LOST: dead-letter file {self._dead_letter.path} failed ({exc})"
        _logger.error("%d audit event(s) the store refused (%s) %s", len(events), error, where)

    async def close(self) -> None:
        """Flush once more; what cannot be stored now (the store is down) is dead-lettered."""
        try:
            await self.flush()
        except (StorageError, asyncio.CancelledError) as exc:
            left, self._unsaved, self._fresh = self._unsaved + self._fresh, [], []
            self._bury(left, "store unavailable at shutdown")
            if isinstance(exc, asyncio.CancelledError):
                raise
