"""ApprovalStore contract: requests round-trip, list filters, a decision happens exactly once."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gatepass.models import ApprovalRequest
from gatepass.storage.base import ConflictError, Stores

T0 = 1_800_000_000.25


def request(
    request_id: str = "apr-1", client_id: str = "agent-1", at: float = T0
) -> ApprovalRequest:
    return ApprovalRequest(
        request_id=request_id,
        client_id=client_id,
        scopes=("payments:write", "admin:read ✓"),
        created_at=at,
    )


def decided_request() -> ApprovalRequest:
    return ApprovalRequest(
        request_id="apr-full",
        client_id="agent-1",
        scopes=("a", "b", "c"),
        created_at=T0,
        status="approved",
        granted=("a", "c"),
        decided_at=T0 + 60.5,
        decided_by="owner@example.com",
        reason="narrowed: b is not needed",
    )


async def test_add_and_get_round_trip_every_field(stores: Stores) -> None:
    full = decided_request()
    unset = [
        f.name for f in dataclasses.fields(ApprovalRequest) if getattr(full, f.name) == f.default
    ]
    assert unset == [], "decided_request() must set every field"
    await stores.approvals.add_approval(full)
    await stores.approvals.add_approval(request())
    assert await stores.approvals.get_approval("apr-full") == full
    assert await stores.approvals.get_approval("apr-1") == request()
    assert await stores.approvals.get_approval("unknown") is None


async def test_duplicate_id_conflicts_and_keeps_the_first(stores: Stores) -> None:
    await stores.approvals.add_approval(request())
    with pytest.raises(ConflictError):
        await stores.approvals.add_approval(request(client_id="impostor"))
    assert await stores.approvals.get_approval("apr-1") == request()


async def test_list_filters_by_status_and_client_oldest_first(stores: Stores) -> None:
    r1, r2 = request("r1", "a", T0 + 20), request("r2", "b", T0 + 10)
    r3, r4 = request("r3", "a", T0), request("r4", "a", T0 + 30)
    for r in (r1, r2, r3, r4):
        await stores.approvals.add_approval(r)
    d3 = await stores.approvals.decide_approval("r3", "denied", (), "owner", None, T0 + 40)

    assert await stores.approvals.list_approvals() == [d3, r2, r1, r4]
    assert await stores.approvals.list_approvals(status="pending") == [r2, r1, r4]
    assert await stores.approvals.list_approvals(client_id="a") == [d3, r1, r4]
    assert await stores.approvals.list_approvals(status="pending", client_id="a") == [r1, r4]
    assert await stores.approvals.list_approvals(status="denied") == [d3]
    assert await stores.approvals.list_approvals(status="approved") == []
    assert await stores.approvals.list_approvals(client_id="nobody") == []


async def test_decide_records_the_decision(stores: Stores) -> None:
    await stores.approvals.add_approval(request())
    decided = await stores.approvals.decide_approval(
        "apr-1", "approved", ("payments:write",), "owner@example.com", "ok", T0 + 5
    )
    expected = dataclasses.replace(
        request(),
        status="approved",
        granted=("payments:write",),
        decided_at=T0 + 5,
        decided_by="owner@example.com",
        reason="ok",
    )
    assert decided == expected
    assert await stores.approvals.get_approval("apr-1") == expected


async def test_deny_without_reason(stores: Stores) -> None:
    await stores.approvals.add_approval(request())
    decided = await stores.approvals.decide_approval("apr-1", "denied", (), "owner", None, T0 + 1)
    assert (decided.status, decided.granted, decided.reason) == ("denied", (), None)
    assert await stores.approvals.get_approval("apr-1") == decided


async def test_second_decision_conflicts_and_keeps_the_first(stores: Stores) -> None:
    await stores.approvals.add_approval(request())
    first = await stores.approvals.decide_approval("apr-1", "denied", (), "alice", "no", T0 + 1)
    with pytest.raises(ConflictError):
        await stores.approvals.decide_approval("apr-1", "approved", ("x",), "bob", None, T0 + 2)
    with pytest.raises(ConflictError):
        await stores.approvals.decide_approval("apr-1", "denied", (), "alice", "again", T0 + 3)
    assert await stores.approvals.get_approval("apr-1") == first


async def test_decide_unknown_raises_key_error(stores: Stores) -> None:
    with pytest.raises(KeyError):
        await stores.approvals.decide_approval("ghost", "approved", (), "owner", None, T0)


async def test_decide_to_pending_is_refused(stores: Stores) -> None:
    await stores.approvals.add_approval(request())
    with pytest.raises(ValueError, match="approved"):
        await stores.approvals.decide_approval("apr-1", "pending", (), "owner", None, T0)
    assert await stores.approvals.get_approval("apr-1") == request()


async def test_concurrent_double_decision_one_wins(stores: Stores) -> None:
    await stores.approvals.add_approval(request())
    results = await asyncio.gather(
        stores.approvals.decide_approval("apr-1", "approved", ("a",), "alice", None, T0 + 1),
        stores.approvals.decide_approval("apr-1", "denied", (), "bob", "no", T0 + 2),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, ApprovalRequest)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1, results
    assert len(lost) == 1 and isinstance(lost[0], ConflictError), results
    assert await stores.approvals.get_approval("apr-1") == won[0]


async def test_twenty_concurrent_decisions_exactly_one_wins(stores: Stores) -> None:
    await stores.approvals.add_approval(request())
    results = await asyncio.gather(
        *(
            stores.approvals.decide_approval(
                "apr-1", "approved" if n % 2 else "denied", (), f"admin-{n}", None, T0 + n
            )
            for n in range(20)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, ApprovalRequest)]
    assert len(won) == 1, results
    assert all(isinstance(r, ConflictError) for r in results if r is not won[0]), results
    assert await stores.approvals.get_approval("apr-1") == won[0]
