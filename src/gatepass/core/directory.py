"""Cached client lookups for the hot path, invalidated on change (DESIGN §2)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from gatepass.clock import Clock
from gatepass.models import Client, ClientSecret
from gatepass.storage.base import ClientStore

__all__ = ["ClientDirectory", "ClientEntry"]


@dataclass(frozen=True, slots=True)
class ClientEntry:
    client: Client
    secrets: tuple[ClientSecret, ...]


class ClientDirectory:
    """Client + secrets by id, cached for ``ttl`` seconds (bounded LRU); ``invalidate`` on change.

    Changes made by another process (the CLI) are seen within ``ttl``.
    """

    def __init__(self, store: ClientStore, clock: Clock, ttl: float, max_entries: int = 10_000):
        self.store = store
        self._clock = clock
        self._ttl = ttl
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, ClientEntry | None]] = OrderedDict()

    async def lookup(self, client_id: str) -> ClientEntry | None:
        now = self._clock.now()
        hit = self._cache.get(client_id)
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(client_id)
            return hit[1]
        client = await self.store.get_client(client_id)
        entry = None
        if client is not None:
            entry = ClientEntry(client, tuple(await self.store.list_secrets(client_id)))
        if self._ttl > 0 and (entry is not None or len(client_id) <= 128):
            self._cache[client_id] = (now + self._ttl, entry)
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return entry

    def invalidate(self, client_id: str | None = None) -> None:
        if client_id is None:
            self._cache.clear()
        else:
            self._cache.pop(client_id, None)
