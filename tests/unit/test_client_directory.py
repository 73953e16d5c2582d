"""ClientDirectory: cached lookups, one load per client id at a time, invalidation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gatepass.clock import FrozenClock
from gatepass.core.directory import ClientDirectory
from gatepass.models import Client
from gatepass.storage.base import StorageError


class GatedStore:
    """A client store whose reads wait for ``gate`` and are counted."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.reads = 0
        self.name = "first"
        self.fail = False

    async def get_client(self, client_id: str) -> Client | None:
        self.reads += 1
        await self.gate.wait()
        if self.fail:
            raise StorageError("database unavailable")
        return Client(client_id=client_id, name=self.name, created_at=0.0)

    async def list_secrets(self, client_id: str) -> list[Any]:
        return []


@pytest.fixture
def store() -> GatedStore:
    return GatedStore()


def directory(store: GatedStore, clock: FrozenClock, ttl: float = 5.0) -> ClientDirectory:
    return ClientDirectory(store, clock, ttl)  # type: ignore[arg-type]


async def test_concurrent_misses_share_one_load(store: GatedStore) -> None:
    clock = FrozenClock()
    d = directory(store, clock)
    lookups = [asyncio.ensure_future(d.lookup("c1")) for _ in range(32)]
    await asyncio.sleep(0)
    store.gate.set()
    entries = await asyncio.gather(*lookups)
    assert store.reads == 1
    assert {e.client.name for e in entries if e is not None} == {"first"}
    assert await d.lookup("c1") is entries[0] and store.reads == 1  # cached
    clock.advance(6)  # expired: loaded again, once
    again = await asyncio.gather(*(d.lookup("c1") for _ in range(8)))
    assert store.reads == 2 and again[0] is not entries[0]


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(store: GatedStore) -> None:
    d = directory(store, FrozenClock())
    first = asyncio.ensure_future(d.lookup("c1"))
    second = asyncio.ensure_future(d.lookup("c1"))
    await asyncio.sleep(0)
    first.cancel()
    store.gate.set()
    entry = await second
    assert entry is not None and store.reads == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_invalidate_during_a_load_is_not_undone_by_it(store: GatedStore) -> None:
    d = directory(store, FrozenClock())
    stale = asyncio.ensure_future(d.lookup("c1"))
    await asyncio.sleep(0)
    d.invalidate("c1")  # e.g. the secret was rotated while the old row was being read
    store.name = "second"
    store.gate.set()
    assert (await stale) is not None
    fresh = await d.lookup("c1")
    assert fresh is not None and fresh.client.name == "second" and store.reads == 2


async def test_a_failed_load_reaches_every_caller_and_is_not_cached(store: GatedStore) -> None:
    d = directory(store, FrozenClock())
    store.fail = True
    lookups = [asyncio.ensure_future(d.lookup("c1")) for _ in range(4)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*lookups, return_exceptions=True)
    assert all(isinstance(r, StorageError) for r in results) and store.reads == 1
    store.fail = False
    assert await d.lookup("c1") is not None and store.reads == 2
