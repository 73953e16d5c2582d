"""RevocationStore and ReplayCache contracts, on memory, SQLite, PostgreSQL and Redis.

Expiry times are real wall-clock times, because Redis judges expiry by its own clock.
"""

from __future__ import annotations

import asyncio
import time

from gatepass.storage.base import Stores

from .conftest import TokenStores


async def test_revoke_and_is_revoked(token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    await store.revoke("jti-1", now + 3600, revoked_at=now)
    assert await store.is_revoked("jti-1")
    assert not await store.is_revoked("jti-2")


async def test_revoke_is_idempotent_and_keeps_the_first_time(token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    await store.revoke("jti-1", now + 3600, revoked_at=now)
    await store.revoke("jti-1", now + 3600, revoked_at=now + 50)
    assert await store.is_revoked("jti-1")
    assert await store.revoked_since(0) == [("jti-1", now + 3600)]
    assert await store.revoked_since(now + 1) == []


async def test_revoked_since_filters_and_orders_oldest_first(token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    await store.revoke("c", now + 300, revoked_at=now + 20)
    await store.revoke("a", now + 100, revoked_at=now + 10)
    await store.revoke("b", now + 200, revoked_at=now)
    assert await store.revoked_since(now + 10) == [("a", now + 100), ("c", now + 300)]
    assert await store.revoked_since(now) == [("b", now + 200), ("a", now + 100), ("c", now + 300)]
    assert await store.revoked_since(now + 21) == []


async def test_revoked_page_resumes_strictly_after_the_position(
        token_stores: TokenStores) -> None:
    """Pages in (revoked_at, jti) order; ties on revoked_at are split by jti, none lost."""
    store, now = token_stores.revocations, time.time()
    for jti, at in [("e", now + 2), ("b", now + 1), ("a", now + 1), ("d", now + 1), ("c", now)]:
        await store.revoke(jti, now + 600, revoked_at=at)
    order = [("c", now + 600, now), ("a", now + 600, now + 1), ("b", now + 600, now + 1),
             ("d", now + 600, now + 1), ("e", now + 600, now + 2)]
    assert await store.revoked_page(None, 10) == order
    assert await store.revoked_page(None, 2) == order[:2]
    assert await store.revoked_page((now + 1, "a"), 2) == order[2:4]
    assert await store.revoked_page((now + 1, "d"), 2) == order[4:]
    assert await store.revoked_page((now + 2, "e"), 2) == []


async def test_purge_expired(token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    await store.revoke("short", now + 10, revoked_at=now)
    await store.revoke("long", now + 1000, revoked_at=now)
    assert await store.purge_expired(now + 100) == 1
    assert await store.revoked_since(0) == [("long", now + 1000)]
    assert not await store.is_revoked("short")
    assert await store.is_revoked("long")
    assert await store.purge_expired(now + 100) == 0


async def test_replay_add_once_then_refused(token_stores: TokenStores) -> None:
    replay, exp = token_stores.replay, time.time() + 300
    assert await replay.add_once("client-1:jti-1", exp) is True
    assert await replay.add_once("client-1:jti-1", exp) is False
    assert await replay.add_once("client-1:jti-2", exp) is True


async def test_replay_expired_entry_can_be_added_again(token_stores: TokenStores) -> None:
    replay, now = token_stores.replay, time.time()
    assert await replay.add_once("k", now - 1) is True  # already expired when written
    assert await replay.add_once("k", now + 300) is True
    assert await replay.add_once("k", now + 600) is False


async def test_replay_twenty_concurrent_adds_one_wins(token_stores: TokenStores) -> None:
    exp = time.time() + 300
    results = await asyncio.gather(*(token_stores.replay.add_once("race", exp) for _ in range(20)))
    assert results.count(True) == 1


async def test_replay_purge_keeps_live_entries(token_stores: TokenStores) -> None:
    """Safe to call periodically on every backend (a no-op on Redis, which expires keys)."""
    replay, now = token_stores.replay, time.time()
    assert await replay.add_once("live", now + 300) is True
    assert await replay.purge_expired(now) >= 0
    assert await replay.add_once("live", now + 300) is False


async def test_replay_purge_expired_counts_what_it_drops(stores: Stores) -> None:
    """Memory and SQL keep expired rows until purged; Redis (above) drops them itself."""
    replay, now = stores.replay, time.time()
    await replay.add_once("gone-1", now - 10)
    await replay.add_once("gone-2", now - 5)
    await replay.add_once("live", now + 300)
    assert await replay.purge_expired(now) == 2
    assert await replay.purge_expired(now) == 0
    assert await replay.add_once("live", now + 300) is False
    assert await replay.add_once("gone-1", now + 300) is True
