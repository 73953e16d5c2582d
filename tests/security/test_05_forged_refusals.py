"""Issue 13, item 5: forged refusals do not pollute a victim's record.

An unauthenticated request naming any ``client_id`` wrote ``token.refused`` under that client,
which blocked its promotion for good and skewed the console chart. Now a refusal counts against
a client only when the client authenticated; otherwise it is an unauthenticated attempt, with
the named id in ``details.claimed_client_id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authcode.conftest import Browser, browser, settings_for
from gatepass.clock import FrozenClock
from gatepass.core.usage import usage

RULES = {"promotion_min_age": [0, 0, 0], "promotion_min_tokens": [0, 1, 1]}


@pytest.fixture
async def sc(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Browser]:
    """A server whose promotion rules need one issued token and no age."""
    async with browser(settings_for(tmp_path, agents=RULES), clock) as b:
        yield b


async def _agent(sc: Browser) -> dict[str, Any]:
    resp = await sc.http.post("/oauth/register", json={
        "client_name": "victim", "agent_type": "autonomous", "scope": "read:projects",
        "grant_types": ["client_credentials"]})
    assert resp.status_code == 201, resp.text
    doc: dict[str, Any] = resp.json()
    issued = await sc.http.post("/oauth/token", auth=(doc["client_id"], doc["client_secret"]),
                                data={"grant_type": "client_credentials"})
    assert issued.status_code == 200, issued.text
    return doc


async def _forge(sc: Browser, victim: str, token: str) -> None:
    """Requests naming ``victim`` without its credentials: each refused with invalid_client."""
    attempts = [
        sc.http.post("/oauth/token", auth=(victim, "gps_wrong"),
                     data={"grant_type": "client_credentials"}),
        sc.http.post("/oauth/token", data={"grant_type": "client_credentials",
                                            "client_id": victim, "client_secret": "gps_wrong"}),
        sc.http.post("/oauth/token", data={"grant_type": "client_credentials",
                                            "client_id": victim}),
        sc.http.post("/oauth/introspect", auth=(victim, "gps_wrong"), data={"token": token}),
        sc.http.post("/oauth/revoke", auth=(victim, "gps_wrong"), data={"token": token}),
    ]
    for attempt in attempts:
        resp: httpx.Response = await attempt
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"] == "invalid_client" and resp.json()["error_description"]


async def _refusals(sc: Browser, client_id: str) -> list[str]:
    await sc.rt.server.audit.flush()
    return [e.event for e in await sc.rt.stores.audit.recent(1000, client_id)
            if e.event.endswith("refused")]


async def test_forged_refusals_are_unauthenticated_attempts_not_the_clients(sc: Browser) -> None:
    victim = await _agent(sc)
    cid = victim["client_id"]
    token = (await sc.http.post("/oauth/token", auth=(cid, victim["client_secret"]),
                                data={"grant_type": "client_credentials"})).json()["access_token"]
    await _forge(sc, cid, token)
    assert await _refusals(sc, cid) == []
    claimed = [e for e in await sc.rt.stores.audit.recent(1000)
               if e.details.get("claimed_client_id") == cid]
    assert sorted(e.event for e in claimed) == [
        "introspect.refused", "revoke.refused", *["token.refused"] * 3]
    assert all(e.client_id is None and e.outcome == "failure" for e in claimed)
    stats = await usage(sc.rt.server, [cid])
    assert stats.agents[cid].refused == 0 and stats.refused == 0
    assert await sc.rt.admin.apply_promotion_rules(cid) == 1  # the record is clean


async def test_forged_grant_refusals_for_a_public_client_are_not_its_own(sc: Browser) -> None:
    """A public client only names itself, so its refusals are unauthenticated too."""
    public = await sc.register()
    resp = await sc.http.post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": public["client_id"],
        "code": "forged", "redirect_uri": "http://127.0.0.1/callback", "code_verifier": "v" * 43})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert await _refusals(sc, public["client_id"]) == []


async def test_refusals_of_an_authenticated_client_still_count(sc: Browser) -> None:
    victim = await _agent(sc)
    cid = victim["client_id"]
    wrong = await sc.http.post("/oauth/token", auth=(cid, victim["client_secret"]),
                               data={"grant_type": "client_credentials",
                                     "scope": "write:projects"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_scope"
    assert await _refusals(sc, cid) == ["token.refused"]
    assert (await usage(sc.rt.server, [cid])).agents[cid].refused == 1
    assert await sc.rt.admin.apply_promotion_rules(cid) is None  # a real violation blocks it
