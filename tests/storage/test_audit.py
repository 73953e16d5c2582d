"""AuditLog contract: batches are recorded whole, read back newest first."""

from __future__ import annotations

from gatepass.models import AuditEvent
from gatepass.storage.base import Stores

T0 = 1_800_000_000.0


def event(n: int, client_id: str | None = "c1", event_id: str | None = None) -> AuditEvent:
    return AuditEvent(
        event="token.issued",
        outcome="success" if n % 2 else "failure",
        at=T0 + n,
        client_id=client_id,
        scopes=("read:docs", "write:docs"),
        reason=None if n % 2 else "invalid_scope",
        actor="system",
        details={"n": n, "aud": ["https://api.example.com"]},
        event_id=event_id,
    )


async def test_record_batch_and_read_newest_first(stores: Stores) -> None:
    batch = [event(1, event_id="e1"), event(3, "c2"), event(2)]
    await stores.audit.record(batch)
    assert await stores.audit.recent() == [batch[1], batch[2], batch[0]]


async def test_recent_limit_and_client_filter(stores: Stores) -> None:
    await stores.audit.record([event(n, "c1" if n < 5 else "c2") for n in range(10)])
    assert [e.at for e in await stores.audit.recent(limit=3)] == [T0 + 9, T0 + 8, T0 + 7]
    only_c1 = await stores.audit.recent(limit=2, client_id="c1")
    assert [e.at for e in only_c1] == [T0 + 4, T0 + 3]
    assert await stores.audit.recent(client_id="nobody") == []


async def test_same_time_keeps_insertion_order_newest_first(stores: Stores) -> None:
    first = AuditEvent(event="a", outcome="success", at=T0)
    second = AuditEvent(event="b", outcome="success", at=T0)
    await stores.audit.record([first])
    await stores.audit.record([second])
    assert await stores.audit.recent() == [second, first]


async def test_empty_batch_is_a_no_op(stores: Stores) -> None:
    await stores.audit.record([])
    assert await stores.audit.recent() == []


async def test_a_retried_batch_is_stored_once(stores: Stores) -> None:
    first = event(1, event_id="e1")
    await stores.audit.record([first])
    retried = [event(2, event_id="e2"), event(3, event_id="e1"), event(4, event_id="e2")]
    await stores.audit.record(retried)
    assert [e.event_id for e in await stores.audit.recent()] == ["e2", "e1"]
    assert (await stores.audit.recent())[1] == first  # the stored copy is kept as it was


async def test_events_without_id_are_all_stored(stores: Stores) -> None:
    await stores.audit.record([event(1), event(1)])
    assert len(await stores.audit.recent()) == 2


async def test_large_batch(stores: Stores) -> None:
    await stores.audit.record([event(n) for n in range(1200)])
    assert len(await stores.audit.recent(limit=5000)) == 1200


def named(name: str, at: float, client_id: str | None = "c1") -> AuditEvent:
    return AuditEvent(event=name, outcome="success", at=at, client_id=client_id, details={"n": at})


async def test_count_filters_client_event_and_since(stores: Stores) -> None:
    await stores.audit.record(
        [
            named("token.issued", T0),
            named("token.issued", T0 + 10),
            named("token.issued", T0 + 20),
            named("token.issued", T0 + 30, "c2"),
            named("token.issued", T0 + 40, None),
            named("client.suspended", T0 + 50),
        ]
    )
    assert await stores.audit.count("c1", "token.issued") == 3
    assert await stores.audit.count("c1", "token.issued", since=T0 + 10) == 2  # bound included
    assert await stores.audit.count("c1", "token.issued", since=T0 + 20.5) == 0
    assert await stores.audit.count("c2", "token.issued") == 1
    assert await stores.audit.count("c1", "client.suspended") == 1
    assert await stores.audit.count("c1", "client.created") == 0
    assert await stores.audit.count("nobody", "token.issued") == 0


async def test_find_oldest_first_with_since_and_limit(stores: Stores) -> None:
    late, early, other = named("token.issued", T0 + 20), named("token.issued", T0), named("x", T0)
    middle = named("token.issued", T0 + 10)
    await stores.audit.record([late, other, early])
    await stores.audit.record([middle, named("token.issued", T0 + 5, "c2")])
    assert await stores.audit.find("c1", "token.issued") == [early, middle, late]
    assert await stores.audit.find("c1", "token.issued", since=T0 + 10) == [middle, late]
    assert await stores.audit.find("c1", "token.issued", limit=2) == [early, middle]
    assert await stores.audit.find("c1", "token.issued", since=T0 + 21) == []
    assert await stores.audit.find("nobody", "token.issued") == []


async def test_find_same_time_keeps_insertion_order(stores: Stores) -> None:
    first, second, third = (
        AuditEvent("token.issued", "success", T0, client_id="c1", event_id=f"e{n}")
        for n in range(3)
    )
    await stores.audit.record([first, second])
    await stores.audit.record([third])
    assert await stores.audit.find("c1", "token.issued") == [first, second, third]


async def test_count_and_find_agree_on_a_large_log(stores: Stores) -> None:
    await stores.audit.record([named("token.issued", T0 + n, f"c{n % 3}") for n in range(1200)])
    assert await stores.audit.count("c1", "token.issued") == 400
    found = await stores.audit.find("c1", "token.issued", since=T0 + 600)
    assert len(found) == 200
    assert [e.at for e in found] == sorted(e.at for e in found)


async def test_data_the_store_cannot_take_is_refused_as_such(stores: Stores,
                                                             store_url: str) -> None:
    """``DataRejected`` (retrying the same data is useless), not a plain outage; the batch it
    was in is not stored in part."""
    import pytest

    from gatepass.storage.base import DataRejected

    poison = [event(1, event_id="ok"), AuditEvent("x", "success", T0, details={"n": 2**70},
                                                  event_id="huge")]
    if store_url == "memory":
        await stores.audit.record(poison)  # memory keeps objects: nothing to refuse
        return
    with pytest.raises(DataRejected):
        await stores.audit.record(poison)
    assert await stores.audit.recent() == []
    if "postgres" in store_url:  # PostgreSQL refuses NUL in text
        with pytest.raises(DataRejected):
            await stores.audit.record([event(1, client_id="a\x00b", event_id="nul")])
    await stores.audit.record([poison[0]])
    assert [e.event_id for e in await stores.audit.recent()] == ["ok"]
