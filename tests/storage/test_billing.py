"""BillingStore contract: tokens round-trip and each use is counted atomically, exactly once."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gatepass.models import BillingToken
from gatepass.storage.base import ConflictError, Stores

T0 = 1_800_000_000.5


def token(
    token_id: str = "bt-1",
    *,
    max_uses: int | None = 1,
    expires_at: float | None = None,
    at: float = T0,
) -> BillingToken:
    return BillingToken(
        token_id=token_id,
        digest=f"sha256-{token_id}",
        tier="premium",
        account_id="acct_42",
        created_at=at,
        max_uses=max_uses,
        expires_at=expires_at,
    )


async def test_add_and_get_round_trip_every_field(stores: Stores) -> None:
    full = dataclasses.replace(token(max_uses=7, expires_at=T0 + 3600), uses=3)
    unset = [f.name for f in dataclasses.fields(BillingToken) if getattr(full, f.name) == f.default]
    assert unset == [], "every field must differ from its default"
    await stores.billing.add_billing_token(full)
    assert await stores.billing.get_billing_token("sha256-bt-1") == full
    assert await stores.billing.get_billing_token("sha256-unknown") is None


async def test_unlimited_token_round_trips(stores: Stores) -> None:
    await stores.billing.add_billing_token(token(max_uses=None))
    got = await stores.billing.get_billing_token("sha256-bt-1")
    assert got == token(max_uses=None)
    assert got is not None and got.max_uses is None and got.expires_at is None


async def test_duplicate_id_or_digest_conflicts(stores: Stores) -> None:
    await stores.billing.add_billing_token(token())
    with pytest.raises(ConflictError):
        await stores.billing.add_billing_token(dataclasses.replace(token(), digest="other"))
    with pytest.raises(ConflictError):
        await stores.billing.add_billing_token(dataclasses.replace(token(), token_id="bt-2"))
    assert await stores.billing.list_billing_tokens() == [token()]


async def test_list_oldest_first(stores: Stores) -> None:
    later, earlier = token("b", at=T0 + 10), token("a", at=T0)
    await stores.billing.add_billing_token(later)
    await stores.billing.add_billing_token(earlier)
    assert await stores.billing.list_billing_tokens() == [earlier, later]


async def test_use_counts_and_returns_the_updated_record(stores: Stores) -> None:
    await stores.billing.add_billing_token(token(max_uses=2))
    first = await stores.billing.use_billing_token("sha256-bt-1", T0)
    assert first == dataclasses.replace(token(max_uses=2), uses=1)
    second = await stores.billing.use_billing_token("sha256-bt-1", T0)
    assert second is not None and second.uses == 2
    assert await stores.billing.use_billing_token("sha256-bt-1", T0) is None  # used up
    assert await stores.billing.get_billing_token("sha256-bt-1") == second


async def test_single_use_token(stores: Stores) -> None:
    await stores.billing.add_billing_token(token())
    used = await stores.billing.use_billing_token("sha256-bt-1", T0)
    assert used is not None and used.uses == 1
    assert await stores.billing.use_billing_token("sha256-bt-1", T0) is None


async def test_unlimited_token_keeps_counting(stores: Stores) -> None:
    await stores.billing.add_billing_token(token(max_uses=None))
    for n in range(1, 6):
        used = await stores.billing.use_billing_token("sha256-bt-1", T0)
        assert used is not None and used.uses == n


async def test_expired_token_is_not_used(stores: Stores) -> None:
    await stores.billing.add_billing_token(token(max_uses=None, expires_at=T0 + 100))
    used = await stores.billing.use_billing_token("sha256-bt-1", T0 + 99.5)
    assert used is not None and used.uses == 1
    assert await stores.billing.use_billing_token("sha256-bt-1", T0 + 100) is None  # at expiry
    assert await stores.billing.use_billing_token("sha256-bt-1", T0 + 101) is None
    assert await stores.billing.get_billing_token("sha256-bt-1") == used


async def test_unknown_token_is_not_used(stores: Stores) -> None:
    await stores.billing.add_billing_token(token())
    assert await stores.billing.use_billing_token("sha256-unknown", T0) is None
    assert await stores.billing.get_billing_token("sha256-bt-1") == token()


async def test_use_touches_only_its_own_token(stores: Stores) -> None:
    await stores.billing.add_billing_token(token("a"))
    await stores.billing.add_billing_token(token("b"))
    await stores.billing.use_billing_token("sha256-a", T0)
    assert await stores.billing.get_billing_token("sha256-b") == token("b")


async def test_twenty_concurrent_uses_of_five_exactly_five_succeed(stores: Stores) -> None:
    await stores.billing.add_billing_token(token(max_uses=5))
    results = await asyncio.gather(
        *(stores.billing.use_billing_token("sha256-bt-1", T0) for _ in range(20))
    )
    used = [r for r in results if r is not None]
    assert len(used) == 5
    assert sorted(r.uses for r in used) == [1, 2, 3, 4, 5]
    final = await stores.billing.get_billing_token("sha256-bt-1")
    assert final is not None and final.uses == 5


async def test_twenty_concurrent_uses_of_an_unlimited_token_all_count(stores: Stores) -> None:
    await stores.billing.add_billing_token(token(max_uses=None))
    results = await asyncio.gather(
        *(stores.billing.use_billing_token("sha256-bt-1", T0) for _ in range(20))
    )
    assert sorted(r.uses for r in results if r is not None) == list(range(1, 21))
    final = await stores.billing.get_billing_token("sha256-bt-1")
    assert final is not None and final.uses == 20
