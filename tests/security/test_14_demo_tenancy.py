"""Issue 13, item 14: the demo API partitions by owner, not by client.

Two owners who authorized one client saw each other's projects: the partition was the token's
``owner`` claim (the client's registered owner) or its client. Now it is the owner who
delegated the token (its ``sub``) when there is one, else the client's owner, else the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authcode.conftest import APP_REDIRECT, Browser, browser, settings_for
from gatepass.clock import FrozenClock

SCOPES = "read:projects write:projects"
OWNERS = (("alice@example.com", "alice's long password"),
          ("bob@example.com", "bob's long password"))


@pytest.fixture
async def demo(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Browser]:
    """The app with the demo API mounted at ``/api`` (audience: the issuer)."""
    async with browser(settings_for(tmp_path, demo_api=True), clock) as b:
        for email, password in OWNERS:
            await b.create_owner(email, password)
        yield b


async def _delegated_token(demo: Browser, cid: str, secret: str, email: str,
                           password: str) -> str:
    """The owner signs in, allows the client, and the client redeems the code."""
    demo.http.cookies.clear()
    await demo.sign_in(email, password)
    code, verifier = await demo.code(cid, APP_REDIRECT, scope=SCOPES)
    resp = await demo.exchange(cid, code, verifier, APP_REDIRECT, auth=(cid, secret))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


async def _names(demo: Browser, token: str) -> set[str]:
    resp = await demo.http.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return {p["name"] for p in resp.json()["data"]}


async def _create(demo: Browser, token: str, name: str) -> None:
    resp = await demo.http.post("/api/projects", json={"name": name},
                                headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201, resp.text


async def test_two_owners_of_one_client_do_not_see_each_others_projects(demo: Browser) -> None:
    shared = await demo.rt.admin.create_client(
        "shared app", SCOPES, grant_types=("authorization_code", "client_credentials"),
        owner="own_registered", metadata={"redirect_uris": [APP_REDIRECT]})
    cid, secret = shared.client.client_id, shared.secret
    assert secret is not None
    alice, bob = [await _delegated_token(demo, cid, secret, e, p) for e, p in OWNERS]
    assert demo.claims(alice)["client_id"] == demo.claims(bob)["client_id"] == cid
    await _create(demo, alice, "alice-private")
    await _create(demo, bob, "bob-private")
    assert "alice-private" in await _names(demo, alice)
    assert "bob-private" not in await _names(demo, alice)
    assert "alice-private" not in await _names(demo, bob)
    assert "bob-private" in await _names(demo, bob)
    # the client in its own name (its registered owner's partition) sees neither
    issued = await demo.http.post("/oauth/token", auth=(cid, secret), data={
        "grant_type": "client_credentials", "scope": "read:projects"})
    assert issued.status_code == 200, issued.text
    own = await _names(demo, issued.json()["access_token"])
    assert not own & {"alice-private", "bob-private"}


async def test_one_owner_sees_the_same_projects_on_every_token(demo: Browser) -> None:
    """The legitimate path: the same owner's later tokens reach the same partition."""
    app = await demo.rt.admin.create_client(
        "app", SCOPES, grant_types=("authorization_code",),
        metadata={"redirect_uris": [APP_REDIRECT]})
    assert app.secret is not None
    email, password = OWNERS[0]
    first = await _delegated_token(demo, app.client.client_id, app.secret, email, password)
    await _create(demo, first, "kept")
    later = await _delegated_token(demo, app.client.client_id, app.secret, email, password)
    assert "kept" in await _names(demo, later)
