"""SessionStore contract: console sessions by digest, expiry, and ending an owner's sessions."""

from __future__ import annotations

from gatepass.models import ConsoleSession
from gatepass.storage.base import Stores

T0 = 1_800_000_000.5


def session(digest: str, owner_id: str = "own-1", expires_at: float = T0 + 3600) -> ConsoleSession:
    return ConsoleSession(digest=digest, owner_id=owner_id, created_at=T0, expires_at=expires_at)


async def test_a_session_round_trips_until_it_expires(stores: Stores) -> None:
    await stores.sessions.add_session(session("d1"))
    assert await stores.sessions.get_session("d1", T0) == session("d1")
    assert await stores.sessions.get_session("d1", T0 + 3599.9) == session("d1")
    assert await stores.sessions.get_session("d1", T0 + 3600) is None
    assert await stores.sessions.get_session("unknown", T0) is None


async def test_ending_one_session_or_every_session_of_an_owner(stores: Stores) -> None:
    for digest, owner_id in (("a1", "own-a"), ("a2", "own-a"), ("b1", "own-b")):
        await stores.sessions.add_session(session(digest, owner_id))
    await stores.sessions.delete_session("a1")
    await stores.sessions.delete_session("a1")  # twice: no error
    assert await stores.sessions.get_session("a1", T0) is None
    assert await stores.sessions.get_session("a2", T0) is not None
    assert await stores.sessions.delete_owner_sessions("own-a") == 1
    assert await stores.sessions.get_session("a2", T0) is None
    assert await stores.sessions.get_session("b1", T0) == session("b1", "own-b")
    assert await stores.sessions.delete_owner_sessions("own-a") == 0


async def test_purge_drops_expired_sessions_only(stores: Stores) -> None:
    await stores.sessions.add_session(session("old", expires_at=T0 + 10))
    await stores.sessions.add_session(session("new", expires_at=T0 + 1000))
    assert await stores.sessions.purge_expired(T0 + 10) == 1
    assert await stores.sessions.get_session("new", T0 + 11) is not None
    assert await stores.sessions.purge_expired(T0 + 10) == 0
