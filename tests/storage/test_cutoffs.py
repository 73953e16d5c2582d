"""Client cutoffs (the kill switch) in the RevocationStore contract, on every token backend:
every token of a client whose ``iat`` is earlier than ``revoked_before`` is revoked."""

from __future__ import annotations

import time

from .conftest import TokenStores


async def test_a_cutoff_revokes_earlier_tokens_of_that_client_only(
        token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    assert not await store.token_revoked("j1", "c1", now - 10)
    await store.revoke_client("c1", now, now + 3600)
    assert await store.token_revoked("j1", "c1", now - 10)
    assert await store.token_revoked("j1", "c1", int(now - 0.5))  # same second, rounded down
    assert await store.token_revoked("j1", "c1", None)  # no iat: refused
    assert not await store.token_revoked("j1", "c1", now)  # issued at the cutoff: kept
    assert not await store.token_revoked("j1", "c1", now + 1)
    assert not await store.token_revoked("j1", "c2", now - 10)  # another client
    assert not await store.token_revoked("j1", None, now - 10)
    assert not await store.is_revoked("j1")  # the cutoff is not a jti entry


async def test_a_revoked_jti_stays_revoked_whatever_the_cutoff(token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    await store.revoke("j1", now + 3600, revoked_at=now)
    assert await store.token_revoked("j1", "c1", now + 5)
    assert await store.token_revoked("j1", None, None)
    assert not await store.token_revoked("j2", "c1", now + 5)


async def test_the_later_cutoff_wins_whatever_the_order(token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    await store.revoke_client("c1", now + 100, now + 3700)
    await store.revoke_client("c1", now, now + 3600)  # an earlier one arrives late
    assert await store.token_revoked("j", "c1", now + 50)
    assert await store.client_cutoffs(now) == [("c1", now + 100, now + 3700)]
    await store.revoke_client("c1", now + 200, now + 3800)
    assert await store.token_revoked("j", "c1", now + 150)
    assert await store.client_cutoffs(now) == [("c1", now + 200, now + 3800)]


async def test_client_cutoffs_lists_the_unexpired_and_purge_drops_the_rest(
        token_stores: TokenStores) -> None:
    store, now = token_stores.revocations, time.time()
    await store.revoke_client("short", now, now + 10)
    await store.revoke_client("long", now + 1, now + 1000)
    assert await store.client_cutoffs(now) == [("long", now + 1, now + 1000),
                                               ("short", now, now + 10)]
    assert await store.client_cutoffs(now + 100) == [("long", now + 1, now + 1000)]
    assert await store.purge_expired(now + 100) == 1
    assert await store.client_cutoffs(0) == [("long", now + 1, now + 1000)]
    assert await store.purge_expired(now + 100) == 0
