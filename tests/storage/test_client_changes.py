"""ClientChanges: a change announced by one process reaches every listener (the SQL change log
on SQLite and PostgreSQL, Redis pub/sub), including ones opened on other engines."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import pytest

from gatepass.storage.base import ClientChanges, Stores
from gatepass.storage.sql.stores import SqlClientChanges, open_sql_stores


@contextlib.asynccontextmanager
async def _listening(changes: ClientChanges) -> AsyncIterator[asyncio.Queue[str]]:
    seen: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(changes.listen(seen.put_nowait))
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _next(seen: asyncio.Queue[str]) -> str:
    async with asyncio.timeout(10):
        return await seen.get()


async def test_memory_stores_have_no_change_channel() -> None:
    from gatepass.storage.memory import open_memory_stores

    assert open_memory_stores().changes is None


async def test_a_change_reaches_a_listener_on_another_engine(stores: Stores,
                                                             store_url: str) -> None:
    if store_url == "memory":
        pytest.skip("one process only")
    other = await open_sql_stores(store_url, change_interval=0.05)
    try:
        assert isinstance(stores.changes, SqlClientChanges)
        await stores.changes.publish("before-listening")  # not replayed to a new listener
        assert other.changes is not None
        async with _listening(other.changes) as seen:
            await asyncio.sleep(0.2)  # the listener has read the log's end
            await stores.changes.publish("c1")
            await stores.changes.publish("c2")
            assert [await _next(seen), await _next(seen)] == ["c1", "c2"]
            assert seen.empty()
    finally:
        await other.close()


@pytest.mark.redis
async def test_redis_changes_reach_every_subscriber(redis_url: str) -> None:
    from redis.asyncio import Redis

    from gatepass.storage.redis import RedisClientChanges

    channel = f"gatepass_t_{secrets.token_hex(6)}:clients"
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url, socket_timeout=1.0)
    try:
        a, b = RedisClientChanges(one, channel=channel), RedisClientChanges(two, channel=channel)
        async with _listening(a) as seen_a, _listening(b) as seen_b:
            for _ in range(500):  # both subscribed (bounded: 10 s)
                if await one.pubsub_numsub(channel) == [(channel.encode(), 2)]:
                    break
                await asyncio.sleep(0.02)
            await b.publish("c1")
            assert await _next(seen_a) == "c1"
            assert await _next(seen_b) == "c1"
            await asyncio.sleep(1.5)  # longer than the socket timeout: still subscribed
            await a.publish("c2")
            assert await _next(seen_b) == "c2"
    finally:
        await one.aclose()
        await two.aclose()

