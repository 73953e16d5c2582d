"""OwnerStore contract: owners round-trip, ids and emails are unique (emails case-insensitively)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gatepass.models import Owner
from gatepass.storage.base import ConflictError, Stores

T0 = 1_800_000_000.75


def owner(owner_id: str = "own-1", email: str = "Alice@Example.com", at: float = T0) -> Owner:
    return Owner(
        owner_id=owner_id,
        email=email,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        created_at=at,
    )


async def test_create_and_get_round_trip_every_field(stores: Stores) -> None:
    full = dataclasses.replace(owner(email="Zoë.Ops@Example.com"), is_operator=True, disabled=True)
    unset = [f.name for f in dataclasses.fields(Owner) if getattr(full, f.name) == f.default]
    assert unset == [], "every field must differ from its default"
    await stores.owners.create_owner(full)
    await stores.owners.create_owner(owner("own-2", "bob@example.com"))
    assert await stores.owners.get_owner("own-1") == full
    assert await stores.owners.get_owner("own-2") == owner("own-2", "bob@example.com")
    assert await stores.owners.get_owner("unknown") is None


async def test_email_lookup_is_case_insensitive_and_keeps_the_original(stores: Stores) -> None:
    await stores.owners.create_owner(owner())
    for spelling in ("Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM"):
        assert await stores.owners.get_owner_by_email(spelling) == owner()
    assert await stores.owners.get_owner_by_email("alice@example.org") is None
    assert await stores.owners.get_owner_by_email("alice") is None
    assert await stores.owners.get_owner_by_email("%@example.com") is None


async def test_duplicate_id_conflicts_and_keeps_the_first(stores: Stores) -> None:
    await stores.owners.create_owner(owner())
    with pytest.raises(ConflictError):
        await stores.owners.create_owner(owner(email="other@example.com"))
    assert await stores.owners.list_owners() == [owner()]


@pytest.mark.parametrize("email", ["Alice@Example.com", "alice@example.com", "ALICE@example.COM"])
async def test_duplicate_email_in_any_case_conflicts(stores: Stores, email: str) -> None:
    await stores.owners.create_owner(owner())
    with pytest.raises(ConflictError):
        await stores.owners.create_owner(owner("own-2", email))
    assert await stores.owners.list_owners() == [owner()]
    assert await stores.owners.get_owner("own-2") is None


async def test_list_oldest_first(stores: Stores) -> None:
    later = owner("a", "a@example.com", T0 + 10)
    earlier = owner("b", "b@example.com", T0)
    tie = owner("c", "c@example.com", T0)
    for o in (later, tie, earlier):
        await stores.owners.create_owner(o)
    assert await stores.owners.list_owners() == [earlier, tie, later]


async def test_list_empty(stores: Stores) -> None:
    assert await stores.owners.list_owners() == []


async def test_update_replaces_every_field_but_the_id(stores: Stores) -> None:
    await stores.owners.create_owner(owner())
    await stores.owners.create_owner(owner("own-2", "bob@example.com"))
    changed = Owner(
        owner_id="own-1",
        email="alice.new@example.com",
        password_hash="$argon2id$new",
        created_at=T0 + 1,
        is_operator=True,
        disabled=True,
    )
    await stores.owners.update_owner(changed)
    assert await stores.owners.get_owner("own-1") == changed
    assert await stores.owners.get_owner_by_email("ALICE.NEW@example.com") == changed
    assert await stores.owners.get_owner_by_email("alice@example.com") is None
    assert await stores.owners.get_owner("own-2") == owner("own-2", "bob@example.com")


async def test_update_may_change_only_the_case_of_the_email(stores: Stores) -> None:
    await stores.owners.create_owner(owner())
    recased = dataclasses.replace(owner(), email="alice@example.com")
    await stores.owners.update_owner(recased)
    assert await stores.owners.get_owner_by_email("ALICE@EXAMPLE.COM") == recased


async def test_update_the_old_email_is_free_again(stores: Stores) -> None:
    await stores.owners.create_owner(owner())
    await stores.owners.update_owner(dataclasses.replace(owner(), email="new@example.com"))
    await stores.owners.create_owner(owner("own-2", "alice@example.com"))
    found = await stores.owners.get_owner_by_email("Alice@Example.com")
    assert found is not None and found.owner_id == "own-2"


async def test_update_to_another_owners_email_conflicts(stores: Stores) -> None:
    await stores.owners.create_owner(owner())
    await stores.owners.create_owner(owner("own-2", "bob@example.com"))
    with pytest.raises(ConflictError):
        await stores.owners.update_owner(owner("own-2", "ALICE@example.com"))
    assert await stores.owners.get_owner("own-2") == owner("own-2", "bob@example.com")
    assert await stores.owners.get_owner_by_email("alice@example.com") == owner()


async def test_update_unknown_raises_key_error(stores: Stores) -> None:
    with pytest.raises(KeyError):
        await stores.owners.update_owner(owner("ghost"))
    assert await stores.owners.get_owner("ghost") is None


async def test_twenty_concurrent_creates_of_one_email_exactly_one_lands(stores: Stores) -> None:
    spellings = ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com", "aLiCe@example.com"]
    results = await asyncio.gather(
        *(
            stores.owners.create_owner(owner(f"own-{n}", spellings[n % 4], T0 + n))
            for n in range(20)
        ),
        return_exceptions=True,
    )
    landed = [n for n, r in enumerate(results) if r is None]
    assert len(landed) == 1, results
    assert all(isinstance(r, ConflictError) for r in results if r is not None), results
    (n,) = landed
    expected = owner(f"own-{n}", spellings[n % 4], T0 + n)
    assert await stores.owners.list_owners() == [expected]
    assert await stores.owners.get_owner_by_email("alice@EXAMPLE.com") == expected
