"""Periodic jobs stop between runs; an audit flush cut off by cancellation keeps its batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gatepass.clock import FrozenClock
from gatepass.core.audit import Auditor
from gatepass.jobs import Periodic
from gatepass.models import AuditEvent
from gatepass.storage.base import StorageError
from gatepass.storage.memory import MemoryAuditLog


async def test_stop_waits_for_the_run_in_progress() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def job() -> None:
        started.set()
        await release.wait()
        finished.append("done")

    jobs = Periodic()
    jobs.every(0.01, job, "slow")
    await asyncio.wait_for(started.wait(), 2)
    stopping = asyncio.ensure_future(jobs.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # not cancelled: it waits for the job
    release.set()
    await asyncio.wait_for(stopping, 2)
    assert finished == ["done"]


async def test_stop_between_runs_is_immediate_and_failures_do_not_end_the_loop() -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise StorageError("database unavailable")
        if len(calls) == 2:
            raise RuntimeError("bug")

    jobs = Periodic()
    jobs.every(0.01, flaky, "flaky")
    for _ in range(200):  # bounded: at most 2 s
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(calls) >= 3
    await asyncio.wait_for(jobs.stop(), 1)


class SlowAudit(MemoryAuditLog):
    """Stores, then blocks until cancelled (a write that landed, its answer cut off)."""

    def __init__(self) -> None:
        super().__init__()
        self.block = True

    async def record(self, events: Sequence[AuditEvent]) -> None:
        await super().record(events)
        if self.block:
            await asyncio.Event().wait()


async def test_a_cancelled_flush_keeps_its_batch_and_stores_it_once() -> None:
    log = SlowAudit()
    auditor = Auditor(log, FrozenClock())
    auditor.emit("token.issued", "success", client_id="c1")
    flushing = asyncio.ensure_future(auditor.flush())
    await asyncio.sleep(0.01)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert auditor.pending == 1
    log.block = False
    assert await auditor.flush() == 1
    assert [e.event for e in await log.recent()] == ["token.issued"]  # not twice
