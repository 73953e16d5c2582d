"""Issue 16's reproduction on PostgreSQL: ``POST /oauth/introspect`` with ``client_id=a%00b``
and no credentials. It is answered 401 JSON (never a 503), the refusal is audited with the NUL
escaped, later events are still stored, and the kill switch still works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatepass.clock import FrozenClock
from gatepass.storage.sql.stores import open_sql_stores

pytestmark = pytest.mark.postgres
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_a_nul_in_a_claimed_client_id_does_not_poison_the_audit_trail(
        serve: Any, clock: FrozenClock, tmp_path: Path, postgres_url: str) -> None:
    dead = tmp_path / "dead.jsonl"
    stores = await open_sql_stores(postgres_url, clock=clock)
    async with serve(stores=stores, audit_dead_letter_path=dead) as s:
        r = await s.client.post("/oauth/introspect", content=b"token=x&client_id=a%00b",
                                headers=FORM)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client" and r.json()["error_description"]
        r = await s.client.post(
            "/oauth/token", headers=FORM,
            content=b"grant_type=client_credentials&client_id=a%00b&client_secret=x")
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"
        await s.rt.server.audit.flush()  # the poisoned batch of before: no error now
        # unauthenticated refusals name the claimed id (escaped) in details, not as the client
        refused = [e for e in await s.rt.stores.audit.recent()
                   if e.details.get("claimed_client_id") == "a\\x00b"]
        assert refused and all(e.outcome == "failure" and e.client_id is None for e in refused)

        rs, rs_secret = await s.secret_client("gatepass:introspect")
        cid, secret = await s.secret_client("read:projects")
        r = await s.client.post("/oauth/token", auth=(cid, secret),
                                data={"grant_type": "client_credentials"})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        await s.rt.server.audit.flush()
        assert [e.event for e in await s.rt.stores.audit.recent(client_id=cid)] == [
            "token.issued", "client.created"]  # later events are stored

        clock.advance(0.5)
        await s.rt.admin.suspend(cid, actor="test")
        r = await s.client.post("/oauth/introspect", auth=(rs, rs_secret),
                                data={"token": token})
        assert r.status_code == 200 and r.json() == {"active": False}
        r = await s.client.post("/oauth/token", auth=(cid, secret),
                                data={"grant_type": "client_credentials"})
        assert r.status_code in (400, 401) and r.json()["error"] in (
            "invalid_client", "unauthorized_client")
        assert s.rt.server.audit.dead_lettered == 0
    assert not dead.exists()
