"""Progressive trust (DESIGN §5): scope ceilings by level, promotion by the owner or by rules.

A promoted agent uses the newly allowed scope at its next token request, without
re-registering (the ceiling is checked at the token endpoint).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gatepass.clock import FrozenClock

from .conftest import Harness, agent_settings, bearer, running


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def ht(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Harness]:
    settings = agent_settings(tmp_path, agents={"promotion_min_age": [0, 3600, 86_400],
                                                "promotion_min_tokens": [0, 2, 1000]})
    async with running(settings, clock=clock) as h:
        yield h


async def test_restricted_scope_is_reported_with_the_reason(ht: Harness) -> None:
    reg = await ht.registered(requested_scopes=["read:projects", "read:billing"])
    assert reg["allowed_scopes"] == ["read:projects"]
    assert reg["restricted_scopes"] == [{
        "scope": "read:billing",
        "reason": "requires trust level 1 (established); this client has 0"}]
    refused = await ht.token(reg["client_id"], reg["client_secret"], "read:billing")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert refused.json()["denied_scopes"] == ["read:billing"]
    default = await ht.token(reg["client_id"], reg["client_secret"])
    assert default.json()["scope"] == "read:projects"  # no scope asked: only what is allowed now


async def test_owner_promotion_unlocks_scope_without_reregistering(ht: Harness) -> None:
    reg = await ht.registered(requested_scopes=["read:projects", "read:billing"])
    admin = bearer(await ht.admin_token())
    promoted = await ht.http.post(f"/api/v1/admin/agents/{reg['client_id']}/trust",
                                  headers=admin, json={"level": 1, "reason": "verified owner"})
    assert promoted.status_code == 200
    token = await ht.token(reg["client_id"], reg["client_secret"], "read:billing")
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read:billing"
    me = (await ht.http.get("/api/v1/agents/me",
                            headers=bearer(reg["registration_access_token"]))).json()
    assert me["trust_level"] == 1
    assert me["trust_level_name"] == "established"
    assert "read:billing" in me["allowed_scopes"]
    assert me["restricted_scopes"] == []
    [event] = [e for e in await ht.events(reg["client_id"]) if e["event"] == "client.trust_changed"]
    assert event["reason"] == "verified owner"


async def test_promotion_rules_age_and_usage(ht: Harness, clock: FrozenClock) -> None:
    reg = await ht.registered(requested_scopes=["read:projects", "read:billing"])
    cid = reg["client_id"]
    admin = ht.runtime.admin
    await ht.runtime.server.audit.flush()
    assert await admin.apply_promotion_rules(cid) is None  # too young, no usage
    for _ in range(2):
        assert (await ht.token(cid, reg["client_secret"], "read:projects")).status_code == 200
    await ht.runtime.server.audit.flush()
    assert await admin.apply_promotion_rules(cid) is None  # still younger than an hour
    clock.advance(3601)
    assert await admin.apply_promotion_rules(cid) == 1
    assert (await ht.token(cid, reg["client_secret"], "read:billing")).status_code == 200
    assert await admin.apply_promotion_rules(cid) is None  # level 2 needs 1000 tokens and a day


async def test_promotion_rules_hold_back_after_violations(ht: Harness, clock: FrozenClock) -> None:
    reg = await ht.registered(requested_scopes=["read:projects", "read:billing"])
    cid = reg["client_id"]
    for scope in ("read:projects", "read:projects", "read:billing"):  # the last one is refused
        await ht.token(cid, reg["client_secret"], scope)
    clock.advance(3601)
    await ht.runtime.server.audit.flush()
    assert await ht.runtime.admin.apply_promotion_rules(cid) is None
    assert (await ht.runtime.admin.get_client(cid)).trust_level == 0


async def test_operator_clients_are_not_held_back(ht: Harness) -> None:
    created = await ht.runtime.admin.create_client("ops", "read:billing execute:deployments")
    assert created.secret is not None
    response = await ht.token(created.client.client_id, created.secret,
                              "read:billing execute:deployments")
    assert response.status_code == 200


async def test_periodic_promotion_job(ht: Harness, clock: FrozenClock) -> None:
    """The app's background job applies the rules to every agent below the top level."""
    from gatepass.http.app import _promote

    ready = await ht.registered(agent_name="ready")
    young = await ht.registered(agent_name="young")
    for _ in range(2):
        await ht.token(ready["client_id"], ready["client_secret"], "read:projects")
    clock.advance(3601)
    await ht.runtime.server.audit.flush()
    assert await _promote(ht.runtime)() == 1
    levels = {c.name: c.trust_level for c in await ht.runtime.stores.clients.list_clients()}
    assert levels == {"ready": 1, "young": 0}
    assert young["client_id"]
