"""Agent-driven secret rotation: ``POST /api/v1/agents/me/secrets`` and early drop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gatepass.clock import FrozenClock

from .conftest import Harness, agent_settings, bearer, es256_key, running

SECRETS = "/api/v1/agents/me/secrets"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def hs(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Harness]:
    settings = agent_settings(tmp_path, agents={"secret_rotation_grace": 600})
    async with running(settings, clock=clock) as h:
        yield h


async def _rotate(h: Harness, reg: dict[str, Any]) -> dict[str, Any]:
    response = await h.http.post(SECRETS, headers=bearer(reg["registration_access_token"]))
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    data: dict[str, Any] = response.json()
    return data


async def test_rotation_keeps_old_secret_during_grace(hs: Harness, clock: FrozenClock) -> None:
    reg = await hs.registered()
    cid, old = reg["client_id"], reg["client_secret"]
    rotated = await _rotate(hs, reg)
    new = rotated["client_secret"]
    assert new.startswith("gps_") and new != old
    assert "cannot be retrieved again" in rotated["warning"]
    by_id = {s["secret_id"]: s for s in rotated["secrets"]}
    assert by_id[rotated["secret_id"]]["expires_at"] is None
    [old_entry] = [s for i, s in by_id.items() if i != rotated["secret_id"]]
    assert old_entry["expires_at"] == pytest.approx(clock.now() + 600)
    assert (await hs.token(cid, old)).status_code == 200
    assert (await hs.token(cid, new)).status_code == 200
    clock.advance(601)
    assert (await hs.token(cid, old)).status_code == 401
    assert (await hs.token(cid, new)).status_code == 200
    events = [e for e in await hs.events(cid) if e["event"] == "client.secret_rotated"]
    assert events[0]["actor"] == f"agent:{cid}"


async def test_old_secret_dropped_early_is_401(hs: Harness) -> None:
    reg = await hs.registered()
    rotated = await _rotate(hs, reg)
    old_id = next(s["secret_id"] for s in rotated["secrets"]
                  if s["secret_id"] != rotated["secret_id"])
    auth = bearer(reg["registration_access_token"])
    dropped = await hs.http.delete(f"{SECRETS}/{old_id}", headers=auth)
    assert dropped.status_code == 204
    assert (await hs.token(reg["client_id"], reg["client_secret"])).status_code == 401
    assert (await hs.token(reg["client_id"], rotated["client_secret"])).status_code == 200
    last = await hs.http.delete(f"{SECRETS}/{rotated['secret_id']}", headers=auth)
    assert last.status_code == 409
    assert last.json()["error"] == "invalid_request"
    assert "last secret" in last.json()["error_description"]
    unknown = await hs.http.delete(f"{SECRETS}/nope", headers=auth)
    assert unknown.status_code == 404


async def test_rotation_needs_the_registration_access_token(hs: Harness) -> None:
    """An access token that leaked to a resource server cannot mint credentials."""
    reg = await hs.registered()
    access = (await hs.token(reg["client_id"], reg["client_secret"])).json()["access_token"]
    for headers in ({}, bearer(access), bearer("gpr_forged")):
        response = await hs.http.post(SECRETS, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
    assert len(await hs.runtime.stores.clients.list_secrets(reg["client_id"])) == 1


async def test_rotation_refused_for_key_based_and_suspended_agents(hs: Harness) -> None:
    keyed = await hs.registered(jwks={"keys": [es256_key().as_dict(private=False)]})
    response = await hs.http.post(SECRETS, headers=bearer(keyed["registration_access_token"]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    reg = await hs.registered(agent_name="other")
    await hs.runtime.admin.suspend(reg["client_id"], actor="test")
    response = await hs.http.post(SECRETS, headers=bearer(reg["registration_access_token"]))
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
