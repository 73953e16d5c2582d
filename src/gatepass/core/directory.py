"""Cached client lookups for the hot path, invalidated on change (DESIGN §2), in this process
and, through the stores' ``ClientChanges`` channel, in every other one."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from gatepass.clock import Clock
from gatepass.models import Client, ClientSecret
from gatepass.storage.base import ClientChanges, ClientStore

__all__ = ["ClientDirectory", "ClientEntry"]


@dataclass(frozen=True, slots=True)
class ClientEntry:
    client: Client
    secrets: tuple[ClientSecret, ...]


class ClientDirectory:
    """Client + secrets by id, cached for ``ttl`` seconds (bounded LRU).

    A change goes through ``changed``: the entry is dropped here and announced on ``changes``;
    ``follow`` (run by every serving process) drops the entries other processes (another
    instance, the CLI) announce, within the channel's bound instead of ``ttl``.
    """

    def __init__(self, store: ClientStore, clock: Clock, ttl: float, max_entries: int = 10_000,
                 changes: ClientChanges | None = None):
        self.store = store
        self.changes = changes
        self._clock = clock
        self._ttl = ttl
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, ClientEntry | None]] = OrderedDict()
        # One load per client id at a time: when an entry expires under load, the concurrent
        # requests for it share one query instead of each taking a pooled connection.
        self._loading: dict[str, asyncio.Task[ClientEntry | None]] = {}
        self._generation = 0  # bumped by invalidate: a load that started before is not cached

    async def lookup(self, client_id: str) -> ClientEntry | None:
        if "\x00" in client_id:  # never a client (ids are printable); some stores refuse NUL
            return None
        hit = self._cache.get(client_id)
        if hit is not None and hit[0] > self._clock.now():
            self._cache.move_to_end(client_id)
            return hit[1]
        task = self._loading.get(client_id)
        if task is None:
            task = asyncio.ensure_future(self._load(client_id, self._generation))
            self._loading[client_id] = task
            task.add_done_callback(lambda t: self._loaded(client_id, t))
        return await asyncio.shield(task)  # a cancelled caller does not cancel the shared load

    async def _load(self, client_id: str, generation: int) -> ClientEntry | None:
        now = self._clock.now()
        client = await self.store.get_client(client_id)
        entry = None
        if client is not None:
            entry = ClientEntry(client, tuple(await self.store.list_secrets(client_id)))
        cacheable = entry is not None or len(client_id) <= 128
        if self._ttl > 0 and cacheable and generation == self._generation:
            self._cache[client_id] = (now + self._ttl, entry)
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return entry

    def _loaded(self, client_id: str, task: asyncio.Task[ClientEntry | None]) -> None:
        if self._loading.get(client_id) is task:
            del self._loading[client_id]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every caller went away

    async def changed(self, client_id: str) -> None:
        """A client's record or secrets changed: forget it here and tell the other processes
        (``StorageError`` if the change could not be announced)."""
        self.invalidate(client_id)
        if self.changes is not None:
            await self.changes.publish(client_id)

    async def follow(self) -> None:
        """Drop the entries other processes announce as changed, until cancelled."""
        if self.changes is not None:
            await self.changes.listen(self.invalidate)

    def invalidate(self, client_id: str | None = None) -> None:
        self._generation += 1
        if client_id is None:
            self._cache.clear()
            self._loading.clear()
        else:
            self._cache.pop(client_id, None)
            self._loading.pop(client_id, None)
