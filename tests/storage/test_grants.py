"""GrantStore contract: codes and refresh tokens round-trip, each is used exactly once (even under
concurrency), a grant's refresh tokens are revoked together, expired records are purged."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gatepass.models import AuthorizationCode, RefreshToken
from gatepass.storage.base import ConflictError, Stores

T0 = 1_800_000_000.125


def code(
    digest: str = "code-1", grant_id: str = "grant-1", *, expires_at: float = T0 + 60
) -> AuthorizationCode:
    return AuthorizationCode(
        code_digest=digest,
        grant_id=grant_id,
        client_id="agent-1",
        owner_id="own-1",
        redirect_uri="https://app.example.com/cb?x=1&y=✓",
        scopes=("openid", "payments:write"),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        created_at=T0,
        expires_at=expires_at,
    )


def refresh(
    digest: str = "rt-1", grant_id: str = "grant-1", *, expires_at: float = T0 + 86_400
) -> RefreshToken:
    return RefreshToken(
        token_digest=digest,
        grant_id=grant_id,
        client_id="agent-1",
        owner_id="own-1",
        scopes=("payments:write",),
        created_at=T0,
        expires_at=expires_at,
    )


async def _open_twenty_connections(stores: Stores) -> None:
    """Fill the SQL pool first, so the racing calls are not staggered by connection setup (a
    cold pool hides a check-then-write race)."""
    await asyncio.gather(*(stores.grants.consume_code(f"warm-{n}", T0) for n in range(20)))


def _unset(record: AuthorizationCode | RefreshToken) -> list[str]:
    fields = dataclasses.fields(record)
    return [f.name for f in fields if getattr(record, f.name) == f.default]


# -- authorization codes --------------------------------------------------------------------


async def test_code_round_trips_every_field(stores: Stores) -> None:
    full = dataclasses.replace(
        code(), resources=("https://api.example.com/", "urn:x"), used_at=T0 + 1.5
    )
    assert _unset(full) == [], "every field must differ from its default"
    await stores.grants.add_code(full)
    assert await stores.grants.consume_code("code-1", T0 + 2) == full  # a replay: as stored
    assert await stores.grants.consume_code("code-1", T0 + 3) == full  # used_at kept


async def test_consume_returns_the_record_before_and_marks_it_used(stores: Stores) -> None:
    await stores.grants.add_code(code())
    first = await stores.grants.consume_code("code-1", T0 + 5)
    assert first == code()  # used_at None: this call won
    replay = await stores.grants.consume_code("code-1", T0 + 6)
    assert replay == dataclasses.replace(code(), used_at=T0 + 5)
    again = await stores.grants.consume_code("code-1", T0 + 7)
    assert again == dataclasses.replace(code(), used_at=T0 + 5)


async def test_consume_unknown_code_is_none(stores: Stores) -> None:
    await stores.grants.add_code(code())
    assert await stores.grants.consume_code("code-unknown", T0) is None
    assert await stores.grants.consume_code("code-1", T0) == code()  # untouched by the miss


async def test_consume_touches_only_its_own_code(stores: Stores) -> None:
    await stores.grants.add_code(code("a"))
    await stores.grants.add_code(code("b"))
    await stores.grants.consume_code("a", T0 + 1)
    assert await stores.grants.consume_code("b", T0 + 2) == code("b")


async def test_duplicate_code_digest_conflicts_and_keeps_the_first(stores: Stores) -> None:
    await stores.grants.add_code(code())
    with pytest.raises(ConflictError):
        await stores.grants.add_code(code(grant_id="grant-other"))
    assert await stores.grants.consume_code("code-1", T0) == code()


async def test_twenty_concurrent_consumes_exactly_one_wins(stores: Stores) -> None:
    await stores.grants.add_code(code())
    await _open_twenty_connections(stores)
    results = await asyncio.gather(
        *(stores.grants.consume_code("code-1", T0 + n) for n in range(1, 21))
    )
    assert all(r is not None for r in results), results
    winners = [r for r in results if r is not None and r.used_at is None]
    replays = [r for r in results if r is not None and r.used_at is not None]
    assert winners == [code()], results
    assert len(replays) == 19, results
    (winner_at,) = {r.used_at for r in replays}  # every replay saw the winner's mark
    assert winner_at is not None and T0 + 1 <= winner_at <= T0 + 20
    assert all(dataclasses.replace(r, used_at=None) == code() for r in replays)
    final = await stores.grants.consume_code("code-1", T0 + 99)
    assert final == dataclasses.replace(code(), used_at=winner_at)


# -- refresh tokens -------------------------------------------------------------------------


async def test_refresh_round_trips_every_field(stores: Stores) -> None:
    full = dataclasses.replace(
        refresh(), resources=("https://api.example.com/",), used_at=T0 + 7.25, revoked=True
    )
    assert _unset(full) == [], "every field must differ from its default"
    await stores.grants.add_refresh(full)
    assert await stores.grants.use_refresh("rt-1", T0 + 8) == full
    assert await stores.grants.use_refresh("rt-1", T0 + 9) == full


async def test_use_refresh_returns_the_record_before_and_marks_it_used(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh())
    assert await stores.grants.use_refresh("rt-1", T0 + 5) == refresh()
    used = dataclasses.replace(refresh(), used_at=T0 + 5)
    assert await stores.grants.use_refresh("rt-1", T0 + 6) == used
    assert await stores.grants.use_refresh("rt-1", T0 + 7) == used


async def test_use_unknown_refresh_is_none(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh())
    assert await stores.grants.use_refresh("rt-unknown", T0) is None
    assert await stores.grants.use_refresh("rt-1", T0) == refresh()


async def test_duplicate_refresh_digest_conflicts_and_keeps_the_first(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh())
    with pytest.raises(ConflictError):
        await stores.grants.add_refresh(refresh(grant_id="grant-other"))
    assert await stores.grants.use_refresh("rt-1", T0) == refresh()


async def test_codes_and_refresh_tokens_are_separate(stores: Stores) -> None:
    await stores.grants.add_code(code("same"))
    await stores.grants.add_refresh(refresh("same"))
    assert await stores.grants.use_refresh("same", T0 + 1) == refresh("same")
    assert await stores.grants.consume_code("same", T0 + 2) == code("same")


async def test_twenty_concurrent_refresh_uses_exactly_one_wins(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh())
    await _open_twenty_connections(stores)
    results = await asyncio.gather(
        *(stores.grants.use_refresh("rt-1", T0 + n) for n in range(1, 21))
    )
    assert all(r is not None for r in results), results
    winners = [r for r in results if r is not None and r.used_at is None]
    replays = [r for r in results if r is not None and r.used_at is not None]
    assert winners == [refresh()], results
    assert len(replays) == 19, results
    (winner_at,) = {r.used_at for r in replays}
    assert winner_at is not None and T0 + 1 <= winner_at <= T0 + 20
    assert all(dataclasses.replace(r, used_at=None) == refresh() for r in replays)


async def test_rotation_chain(stores: Stores) -> None:
    """Each token of a grant is used once; the old one stays a replay after rotation."""
    await stores.grants.add_refresh(refresh("rt-1"))
    assert await stores.grants.use_refresh("rt-1", T0 + 1) == refresh("rt-1")
    await stores.grants.add_refresh(refresh("rt-2"))
    assert await stores.grants.use_refresh("rt-2", T0 + 2) == refresh("rt-2")
    old = await stores.grants.use_refresh("rt-1", T0 + 3)
    assert old is not None and old.used_at == T0 + 1


# -- find_refresh ---------------------------------------------------------------------------


async def test_find_refresh_round_trips_every_field(stores: Stores) -> None:
    full = dataclasses.replace(
        refresh(), resources=("https://api.example.com/",), used_at=T0 + 7.25, revoked=True
    )
    await stores.grants.add_refresh(full)
    assert await stores.grants.find_refresh("rt-1") == full


async def test_find_refresh_has_no_side_effects(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh())
    assert await stores.grants.find_refresh("rt-1") == refresh()
    assert await stores.grants.find_refresh("rt-1") == refresh()
    assert await stores.grants.use_refresh("rt-1", T0 + 5) == refresh()  # still unused


async def test_find_refresh_sees_use_and_revocation(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh())
    await stores.grants.use_refresh("rt-1", T0 + 5)
    assert await stores.grants.find_refresh("rt-1") == dataclasses.replace(
        refresh(), used_at=T0 + 5)
    await stores.grants.revoke_grant("grant-1")
    assert await stores.grants.find_refresh("rt-1") == dataclasses.replace(
        refresh(), used_at=T0 + 5, revoked=True)


async def test_find_refresh_unknown_purged_or_code_digest_is_none(stores: Stores) -> None:
    await stores.grants.add_code(code("same"))
    await stores.grants.add_refresh(refresh("old", expires_at=T0 + 1))
    assert await stores.grants.find_refresh("rt-unknown") is None
    assert await stores.grants.find_refresh("same") is None  # codes are not refresh tokens
    assert await stores.grants.find_refresh("old") is not None  # expired, not yet purged
    await stores.grants.purge_expired(T0 + 1)
    assert await stores.grants.find_refresh("old") is None


# -- revoke_grant -----------------------------------------------------------------------------


async def test_revoke_grant_then_use_reports_revoked(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh())
    assert await stores.grants.revoke_grant("grant-1") == 1
    used = await stores.grants.use_refresh("rt-1", T0 + 1)
    assert used is not None and used.revoked is True
    assert used == dataclasses.replace(refresh(), revoked=True)
    again = await stores.grants.use_refresh("rt-1", T0 + 2)
    assert again is not None and again.revoked is True


async def test_revoke_grant_counts_changes_and_touches_only_that_grant(stores: Stores) -> None:
    await stores.grants.add_refresh(refresh("a1", "grant-a"))
    await stores.grants.add_refresh(refresh("a2", "grant-a"))
    await stores.grants.add_refresh(refresh("a3", "grant-a"))
    await stores.grants.add_refresh(refresh("b1", "grant-b"))
    await stores.grants.use_refresh("a1", T0 + 1)  # used tokens are revoked too

    assert await stores.grants.revoke_grant("grant-a") == 3
    assert await stores.grants.revoke_grant("grant-a") == 0  # already revoked: nothing changed
    assert await stores.grants.revoke_grant("grant-unknown") == 0

    for digest in ("a1", "a2", "a3"):
        token = await stores.grants.use_refresh(digest, T0 + 2)
        assert token is not None and token.revoked is True
    b1 = await stores.grants.use_refresh("b1", T0 + 2)
    assert b1 == refresh("b1", "grant-b")


async def test_revoke_grant_counts_only_tokens_that_changed(stores: Stores) -> None:
    await stores.grants.add_refresh(dataclasses.replace(refresh("r1"), revoked=True))
    await stores.grants.add_refresh(refresh("r2"))
    assert await stores.grants.revoke_grant("grant-1") == 1


async def test_revoke_grant_leaves_codes_alone(stores: Stores) -> None:
    await stores.grants.add_code(code())
    assert await stores.grants.revoke_grant("grant-1") == 0
    assert await stores.grants.consume_code("code-1", T0 + 1) == code()


# -- purge_expired ----------------------------------------------------------------------------


async def test_purge_expired_deletes_codes_and_refresh_tokens_past_expiry(stores: Stores) -> None:
    await stores.grants.add_code(code("c-old", expires_at=T0 + 10))
    await stores.grants.add_code(code("c-edge", expires_at=T0 + 20))
    await stores.grants.add_code(code("c-new", expires_at=T0 + 30))
    await stores.grants.add_refresh(refresh("r-old", expires_at=T0 + 5))
    await stores.grants.add_refresh(refresh("r-new", expires_at=T0 + 21))
    await stores.grants.use_refresh("r-old", T0 + 1)  # used or not, expired is purged

    assert await stores.grants.purge_expired(T0 + 20) == 3  # c-old, c-edge (at expiry), r-old
    assert await stores.grants.purge_expired(T0 + 20) == 0

    assert await stores.grants.consume_code("c-old", T0 + 20) is None
    assert await stores.grants.consume_code("c-edge", T0 + 20) is None
    assert await stores.grants.use_refresh("r-old", T0 + 20) is None
    kept_code = code("c-new", expires_at=T0 + 30)
    kept_refresh = refresh("r-new", expires_at=T0 + 21)
    assert await stores.grants.consume_code("c-new", T0 + 20) == kept_code
    assert await stores.grants.use_refresh("r-new", T0 + 20) == kept_refresh


async def test_purge_on_an_empty_store(stores: Stores) -> None:
    assert await stores.grants.purge_expired(T0) == 0


async def test_a_purged_digest_can_be_added_again(stores: Stores) -> None:
    await stores.grants.add_code(code(expires_at=T0 + 1))
    await stores.grants.add_refresh(refresh(expires_at=T0 + 1))
    assert await stores.grants.purge_expired(T0 + 1) == 2
    await stores.grants.add_code(code())
    await stores.grants.add_refresh(refresh())
    assert await stores.grants.consume_code("code-1", T0 + 2) == code()
    assert await stores.grants.use_refresh("rt-1", T0 + 2) == refresh()
