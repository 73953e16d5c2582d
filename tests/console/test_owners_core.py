"""``core.owners``, ``core.usage`` and the chart geometry, without HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type

from gatepass.clock import FrozenClock
from gatepass.core.owners import (
    LOGIN_FAILED,
    LoginFailed,
    Owners,
    normalise_email,
    password_hasher,
)
from gatepass.core.usage import HOUR, RATE_LIMIT_EVENT, usage
from gatepass.errors import InvalidRequest, NotFound
from gatepass.http.console.chart import hourly_chart, nice_ceiling
from gatepass.runtime import Runtime, open_runtime

from .conftest import PASSWORD, console_settings

START = 1_800_000_000.0


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = await open_runtime(console_settings(tmp_path), clock=FrozenClock(START))
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture
def owners(rt: Runtime) -> Owners:
    return Owners(rt.server, rt.stores.owners)


async def events(rt: Runtime, name: str) -> list[object]:
    await rt.server.audit.flush()
    return [e for e in await rt.stores.audit.recent(1000) if e.event == name]


def test_emails_are_normalised_and_checked() -> None:
    assert normalise_email("  Alice@Example.COM ") == "alice@example.com"
    for bad in ("", "alice", "a b@example.com", "@example.com", "a@", "x" * 250 + "@ex.com"):
        with pytest.raises(InvalidRequest):
            normalise_email(bad)


async def test_create_hashes_with_argon2id_and_refuses_duplicates(owners: Owners,
                                                                  rt: Runtime) -> None:
    owner = await owners.create("Alice@Example.com", PASSWORD, actor="test")
    assert owner.email == "alice@example.com" and not owner.is_operator
    assert owner.password_hash.startswith("$argon2id$")
    assert PASSWORD not in owner.password_hash
    with pytest.raises(InvalidRequest, match="already exists"):
        await owners.create("ALICE@example.com", PASSWORD, actor="test")
    with pytest.raises(InvalidRequest, match="characters"):
        await owners.create("bob@example.com", "short", actor="test")
    created = await events(rt, "owner.created")
    assert len(created) == 1
    assert PASSWORD not in repr(created)


async def test_authenticate_same_error_for_unknown_and_wrong(owners: Owners) -> None:
    await owners.create("alice@example.com", PASSWORD, actor="test")
    assert (await owners.authenticate(" ALICE@example.com", PASSWORD)).email == "alice@example.com"
    errors = []
    for email, password in [("alice@example.com", "wrong password"),
                            ("nobody@example.com", PASSWORD), ("not an email", PASSWORD)]:
        with pytest.raises(LoginFailed) as info:
            await owners.authenticate(email, password)
        errors.append((info.value.error, info.value.description, info.value.http_status))
    assert errors == [("access_denied", LOGIN_FAILED, 401)] * 3


async def test_unknown_accounts_cost_an_argon2_verify(owners: Owners,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = PasswordHasher.verify

    def spy(self: PasswordHasher, digest: str, password: str) -> bool:
        calls.append(digest)
        return original(self, digest, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    with pytest.raises(LoginFailed):
        await owners.authenticate("nobody@example.com", PASSWORD)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


async def test_outdated_hashes_are_upgraded_at_sign_in(rt: Runtime) -> None:
    weak = Owners(rt.server, rt.stores.owners,
                  PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    owner = await weak.create("alice@example.com", PASSWORD, actor="test")
    strong = Owners(rt.server, rt.stores.owners, password_hasher())  # the real parameters
    await strong.authenticate("alice@example.com", PASSWORD)
    stored = await rt.stores.owners.get_owner(owner.owner_id)
    assert stored is not None and stored.password_hash != owner.password_hash
    assert "m=65536" in stored.password_hash


async def test_set_password_and_operator(owners: Owners, rt: Runtime) -> None:
    await owners.create("alice@example.com", PASSWORD, actor="test")
    await owners.set_password("alice@example.com", "another long password", actor="test")
    with pytest.raises(LoginFailed):
        await owners.authenticate("alice@example.com", PASSWORD)
    await owners.authenticate("alice@example.com", "another long password")
    assert (await owners.set_operator("alice@example.com", True, actor="test")).is_operator
    assert [o.is_operator for o in await owners.list_owners()] == [True]
    with pytest.raises(NotFound):
        await owners.set_password("nobody@example.com", PASSWORD, actor="test")
    assert len(await events(rt, "owner.password_changed")) == 1
    assert len(await events(rt, "owner.operator_changed")) == 1


async def test_usage_buckets_tokens_per_clock_hour(rt: Runtime) -> None:
    clock = rt.server.clock
    assert isinstance(clock, FrozenClock)
    audit = rt.server.audit
    audit.emit("token.issued", "success", client_id="a")  # 25 h ago: outside the window
    clock.advance(25 * HOUR)
    audit.emit("token.issued", "success", client_id="a")
    audit.emit("token.refused", "failure", client_id="a", reason="invalid_scope: no")
    audit.emit("token.refused", "failure", client_id="a", reason="rate_limit_exceeded: slow")
    audit.emit(RATE_LIMIT_EVENT, "failure", client_id="a")
    audit.emit("token.issued", "success", client_id="b")
    clock.advance(HOUR)
    audit.emit("token.issued", "success", client_id="a")
    used = await usage(rt.server, ["a", "b", "c"])
    assert len(used.hours) == 24
    assert used.hours[-1].start <= clock.now() < used.hours[-1].start + HOUR
    assert [(h.issued, h.refused) for h in used.hours[-2:]] == [(2, 2), (1, 0)]
    assert used.issued == 3 and used.refused == 2
    a = used.agents["a"]
    assert (a.issued, a.refused, a.rate_limited, a.last_issued) == (2, 2, 2, clock.now())
    assert used.agents["c"].last_issued is None and used.agents["c"].issued == 0


def test_chart_scale_and_geometry() -> None:
    assert [nice_ceiling(n) for n in (0, 1, 3, 7, 10, 11, 42, 180)] == [
        1, 1, 5, 10, 10, 20, 50, 200]
    from gatepass.core.usage import HourUsage

    hours = [HourUsage(START + i * HOUR, issued=i, refused=1 if i == 5 else 0)
             for i in range(24)]
    chart = hourly_chart(hours)
    assert len(chart.bars) == 48
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.kind == "issued" and "23 issued" in tallest.title
    assert all(chart.top <= b.y and b.y + b.height <= chart.bottom + 0.01 for b in chart.bars)
    assert [v for _, v in chart.ticks] == [0, 25, 50]  # quarter ticks only where whole
    assert len(chart.labels) == 8
    assert "276 issued, 1 refused" in chart.summary
