"""Secret rotation, secret drops and approvals written with their client: atomic on every
backend, under concurrency (PostgreSQL row locks, SQLite's write lock, one event loop in memory).
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gatepass.models import ApprovalRequest
from gatepass.storage.base import ConflictError, Stores

from .test_clients import T0, full_client, secret

GRACE = T0 + 600


async def test_rotation_keeps_the_newest_valid_secret_in_grace_and_drops_the_rest(
        stores: Stores) -> None:
    old, older, stale = secret("s2", at=T0 - 10), secret("s1", at=T0 - 20), secret("s0", at=T0 - 30)
    stale = dataclasses.replace(stale, expires_at=T0 - 1)
    await stores.clients.create_client(full_client(), [older, old, stale])
    new = secret("s3", at=T0)
    after = await stores.clients.rotate_secret(new, GRACE, T0)
    assert after == [dataclasses.replace(old, expires_at=GRACE), new]
    assert await stores.clients.list_secrets("agent-1") == after


async def test_rotation_never_extends_an_earlier_expiry(stores: Stores) -> None:
    soon = dataclasses.replace(secret("s1", at=T0 - 10), expires_at=T0 + 5)
    await stores.clients.create_client(full_client(), [soon])
    after = await stores.clients.rotate_secret(secret("s2", at=T0), GRACE, T0)
    assert after == [soon, secret("s2", at=T0)]


async def test_rotation_of_an_unknown_client_writes_nothing(stores: Stores) -> None:
    with pytest.raises(KeyError):
        await stores.clients.rotate_secret(secret("s1", client_id="ghost"), GRACE, T0)
    assert await stores.clients.list_secrets("ghost") == []


async def test_twenty_concurrent_rotations_leave_two_secrets(stores: Stores) -> None:
    await stores.clients.create_client(full_client(), [secret("s-initial", at=T0 - 1)])
    new = [secret(f"r{i:02d}", at=T0 + i / 100) for i in range(20)]
    await asyncio.gather(*(stores.clients.rotate_secret(s, GRACE, T0 + 1) for s in new))
    left = await stores.clients.list_secrets("agent-1")
    assert len(left) == 2
    assert [s.expires_at for s in left].count(None) == 1  # the newest; the other is in grace
    assert {s.secret_id for s in left} <= {s.secret_id for s in new}


async def test_drop_refuses_the_last_valid_secret(stores: Stores) -> None:
    expired = dataclasses.replace(secret("s1", at=T0 - 10), expires_at=T0 - 1)
    await stores.clients.create_client(full_client(), [expired, secret("s2")])
    with pytest.raises(ConflictError):
        await stores.clients.drop_secret("agent-1", "s2", T0)  # only an expired one would stay
    with pytest.raises(KeyError):
        await stores.clients.drop_secret("agent-1", "nope", T0)
    with pytest.raises(KeyError):
        await stores.clients.drop_secret("other", "s2", T0)
    await stores.clients.drop_secret("agent-1", "s1", T0)  # the expired one may go
    assert await stores.clients.list_secrets("agent-1") == [secret("s2")]


async def test_concurrent_drops_leave_one_valid_secret(stores: Stores) -> None:
    made = [secret(f"s{i:02d}", at=T0 + i) for i in range(21)]
    await stores.clients.create_client(full_client(), made)
    outcomes = await asyncio.gather(
        *(stores.clients.drop_secret("agent-1", s.secret_id, T0 + 30) for s in made),
        return_exceptions=True)
    assert [o for o in outcomes if o is not None and not isinstance(o, ConflictError)] == []
    assert sum(o is None for o in outcomes) == 20
    assert len(await stores.clients.list_secrets("agent-1")) == 1


async def test_an_approval_is_written_with_its_client(stores: Stores) -> None:
    approval = ApprovalRequest("apr_1", "agent-1", ("write:docs",), T0)
    await stores.clients.create_client(full_client(), [secret("s1")], approval)
    assert await stores.approvals.get_approval("apr_1") == approval
    assert await stores.approvals.list_approvals("pending", "agent-1") == [approval]


async def test_a_failed_client_insert_leaves_no_approval(stores: Stores) -> None:
    await stores.clients.create_client(full_client(), [secret("s1")])
    approval = ApprovalRequest("apr_2", "agent-1", ("write:docs",), T0)
    with pytest.raises(ConflictError):
        await stores.clients.create_client(full_client(), [secret("s2")], approval)
    assert await stores.approvals.get_approval("apr_2") is None


async def test_a_failed_approval_insert_leaves_no_client(stores: Stores) -> None:
    taken = ApprovalRequest("apr_3", "agent-1", ("write:docs",), T0)
    await stores.clients.create_client(full_client(), [], taken)
    again = ApprovalRequest("apr_3", "agent-2", ("write:docs",), T0)
    with pytest.raises(ConflictError):
        await stores.clients.create_client(full_client("agent-2"), [secret("s9", "agent-2")],
                                           again)
    assert await stores.clients.get_client("agent-2") is None
    assert await stores.clients.list_secrets("agent-2") == []


