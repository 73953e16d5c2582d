"""Periodic background jobs that stop between runs, never in the middle of one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gatepass.storage.base import StorageError

__all__ = ["Periodic"]

log = logging.getLogger("gatepass.jobs")


class Periodic:
    """Runs jobs every N seconds. ``stop`` lets a run in progress finish (an audit flush is not
    cut off half-written) and then ends every loop."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
        self._tasks.append(asyncio.create_task(self._loop(seconds, job, name), name=name))

    async def _loop(self, seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), seconds)
                return
            except TimeoutError:
                pass
            try:
                await job()
            except StorageError:
                log.warning("background job %s: storage unavailable", name)
            except Exception:
                log.exception("background job %s failed", name)

    async def stop(self) -> None:
        """Wake every loop, wait for runs in progress, and end."""
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
