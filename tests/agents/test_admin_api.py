"""Owner approval and the kill switch through ``/api/v1/admin`` (RFC 6750 bearer tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import API, Harness, agent_settings, basic, bearer, running

ADMIN = "/api/v1/admin"


@pytest.fixture
async def ha(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(agent_settings(tmp_path)) as h:
        yield h


@pytest.fixture
async def admin(ha: Harness) -> dict[str, str]:
    return bearer(await ha.admin_token())


async def _pending_agent(h: Harness, *scopes: str) -> dict[str, Any]:
    return await h.registered(requested_scopes=["read:projects", *scopes])


async def test_rfc6750_3_1_admin_needs_a_token(ha: Harness) -> None:
    response = await ha.http.get(f"{ADMIN}/approvals")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"] == 'Bearer realm="gatepass", scope="gatepass:admin"'


async def test_rfc6750_3_1_admin_refuses_bad_tokens(ha: Harness) -> None:
    reg = await ha.registered()
    server = ha.runtime.server
    now = int(server.clock.now())
    expired = server.keyring.sign({"iss": server.config.issuer, "aud": server.config.issuer,
                                   "client_id": "x", "scope": "gatepass:admin", "jti": "j1",
                                   "exp": now - 10, "iat": now - 100})
    for token in (expired, "garbage", reg["registration_access_token"], reg["client_secret"]):
        response = await ha.http.get(f"{ADMIN}/agents", headers=bearer(token))
        assert response.status_code == 401, token
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_rfc6750_3_1_admin_refuses_revoked_other_audience_and_suspended(
        ha: Harness) -> None:
    created = await ha.runtime.admin.create_client("ops", "gatepass:admin", operator=True)
    assert created.secret is not None
    cid, secret = created.client.client_id, created.secret

    async def fetch(**form: str) -> str:
        resp = await ha.token(cid, secret, "gatepass:admin", **form)
        return str(resp.json()["access_token"])

    other_aud = await fetch(resource=API)
    assert (await ha.http.get(f"{ADMIN}/agents", headers=bearer(other_aud))).status_code == 401
    revoked = await fetch()
    assert (await ha.http.get(f"{ADMIN}/agents", headers=bearer(revoked))).status_code == 200
    await ha.http.post("/oauth/revoke", data={"token": revoked}, headers=basic(cid, secret))
    assert (await ha.http.get(f"{ADMIN}/agents", headers=bearer(revoked))).status_code == 401
    live = await fetch()
    await ha.runtime.admin.set_status(cid, "disabled", actor="test")
    assert (await ha.http.get(f"{ADMIN}/agents", headers=bearer(live))).status_code == 401


async def test_rfc6750_3_1_admin_needs_the_admin_scope(ha: Harness) -> None:
    reg = await ha.registered()
    agent_token = (await ha.token(reg["client_id"], reg["client_secret"])).json()["access_token"]
    operator = bearer(await ha.admin_token("read:projects"))
    for headers in (bearer(agent_token), operator):
        response = await ha.http.get(f"{ADMIN}/approvals", headers=headers)
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"
        assert response.json()["required_scopes"] == ["gatepass:admin"]
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_owner_approval_unlocks_pending_scope(ha: Harness, admin: dict[str, str]) -> None:
    reg = await _pending_agent(ha, "write:deploys")
    assert reg["allowed_scopes"] == ["read:projects"]
    assert reg["pending_scopes"] == ["write:deploys"]
    request_id = reg["approval_request_id"]
    before = await ha.token(reg["client_id"], reg["client_secret"], "write:deploys")
    assert before.status_code == 400
    assert before.json()["error"] == "invalid_scope"

    listed = (await ha.http.get(f"{ADMIN}/approvals?status=pending", headers=admin)).json()
    assert [a["request_id"] for a in listed] == [request_id]
    approved = await ha.http.post(f"{ADMIN}/approvals/{request_id}/approve", headers=admin,
                                  json={"reason": "needed for the release"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert approved.json()["granted"] == ["write:deploys"]
    assert approved.json()["decided_by"].startswith("admin-api:client_")

    after = await ha.token(reg["client_id"], reg["client_secret"], "write:deploys")
    assert after.status_code == 200, after.text
    me = (await ha.http.get("/api/v1/agents/me",
                            headers=bearer(reg["registration_access_token"]))).json()
    assert me["pending_scopes"] == []
    assert "write:deploys" in me["allowed_scopes"]
    [event] = [e for e in await ha.events(reg["client_id"]) if e["event"] == "approval.approved"]
    assert event["actor"].startswith("admin-api:")
    assert event["reason"] == "needed for the release"


async def test_owner_narrows_an_approval(ha: Harness, admin: dict[str, str]) -> None:
    reg = await _pending_agent(ha, "write:deploys", "write:billing")
    url = f"{ADMIN}/approvals/{reg['approval_request_id']}/approve"
    outside = await ha.http.post(url, headers=admin, json={"scopes": ["read:analytics"]})
    assert outside.status_code == 400
    assert outside.json()["error"] == "invalid_scope"
    narrowed = await ha.http.post(url, headers=admin, json={"scopes": ["write:deploys"]})
    assert narrowed.json()["granted"] == ["write:deploys"]
    assert (await ha.token(reg["client_id"], reg["client_secret"], "write:deploys")
            ).status_code == 200
    assert (await ha.token(reg["client_id"], reg["client_secret"], "write:billing")
            ).status_code == 400
    again = await ha.http.post(url, headers=admin)
    assert again.status_code == 400
    assert "already decided" in again.json()["error_description"]


async def test_owner_denies(ha: Harness, admin: dict[str, str]) -> None:
    reg = await _pending_agent(ha, "write:deploys")
    denied = await ha.http.post(f"{ADMIN}/approvals/{reg['approval_request_id']}/deny",
                                headers=admin, json={"reason": "not this quarter"})
    assert denied.status_code == 200
    assert denied.json()["status"] == "denied"
    assert denied.json()["granted"] == []
    assert (await ha.token(reg["client_id"], reg["client_secret"], "write:deploys")
            ).status_code == 400
    assert (await ha.token(reg["client_id"], reg["client_secret"], "read:projects")
            ).status_code == 200
    [event] = [e for e in await ha.events(reg["client_id"]) if e["event"] == "approval.denied"]
    assert event["reason"] == "not this quarter"


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), [
    ("POST", "/approvals/apr_nope/approve", None, 404, "not_found"),
    ("POST", "/approvals/apr_nope/deny", None, 404, "not_found"),
    ("POST", "/approvals/apr_x/approve", {"scopes": "write:deploys"}, 400, "invalid_request"),
    ("POST", "/approvals/apr_x/approve", {"grant": "all"}, 400, "invalid_request"),
    ("GET", "/approvals?status=maybe", None, 400, "invalid_request"),
    ("GET", "/audit?limit=0", None, 400, "invalid_request"),
    ("GET", "/agents/agent_nope", None, 404, "not_found"),
    ("POST", "/agents/agent_nope/suspend", None, 404, "not_found"),
    ("POST", "/agents/agent_nope/trust", {"level": 1}, 404, "not_found"),
    ("DELETE", "/agents", None, 405, "invalid_request"),
])
async def test_admin_refusals_are_oauth_json(ha: Harness, admin: dict[str, str], method: str,
                                             path: str, body: Any, status: int,
                                             error: str) -> None:
    response = await ha.http.request(method, ADMIN + path, headers=admin, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]


async def test_admin_malformed_json_is_400(ha: Harness, admin: dict[str, str]) -> None:
    reg = await _pending_agent(ha, "write:deploys")
    response = await ha.http.post(f"{ADMIN}/approvals/{reg['approval_request_id']}/approve",
                                  headers={**admin, "content-type": "application/json"},
                                  content=b"{nope")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request",
                               "error_description": "The body is not valid JSON"}


async def test_admin_lists_agents_and_audit(ha: Harness, admin: dict[str, str]) -> None:
    reg = await ha.registered(owner="alice@example.com")
    agents = (await ha.http.get(f"{ADMIN}/agents", headers=admin)).json()
    assert [a["client_id"] for a in agents] == [reg["client_id"]]  # the ops client is no agent
    assert agents[0]["owner"] == "alice@example.com"
    one = (await ha.http.get(f"{ADMIN}/agents/{reg['client_id']}", headers=admin)).json()
    assert one["trust_level_name"] == "new"
    events = (await ha.http.get(f"{ADMIN}/audit?client_id={reg['client_id']}&limit=5",
                                headers=admin)).json()
    assert [e["event"] for e in events] == ["client.registered"]
    assert reg["client_secret"] not in str(events)


async def test_trust_level_changes(ha: Harness, admin: dict[str, str]) -> None:
    reg = await ha.registered()
    url = f"{ADMIN}/agents/{reg['client_id']}/trust"
    for body in ({"level": 9}, {"level": -1}, {"level": "high"}, {}):
        assert (await ha.http.post(url, headers=admin, json=body)).status_code == 400
    ok = await ha.http.post(url, headers=admin, json={"level": 2, "reason": "long history"})
    assert ok.status_code == 200
    assert ok.json()["trust_level"] == 2


async def test_suspend_revokes_outstanding_tokens_and_blocks_new(
        ha: Harness, admin: dict[str, str]) -> None:
    reg = await ha.registered()
    tokens = [(await ha.token(reg["client_id"], reg["client_secret"])).json()["access_token"]
              for _ in range(2)]
    rs = await ha.runtime.admin.create_client("resource-server", "gatepass:introspect",
                                              operator=True)
    assert rs.secret is not None
    rs_auth = basic(rs.client.client_id, rs.secret)
    for token in tokens:
        active = await ha.http.post("/oauth/introspect", data={"token": token}, headers=rs_auth)
        assert active.json()["active"] is True

    suspended = await ha.http.post(f"{ADMIN}/agents/{reg['client_id']}/suspend", headers=admin,
                                   json={"reason": "abuse report #12"})
    assert suspended.status_code == 200
    assert suspended.json() == {"client_id": reg["client_id"], "status": "suspended",
                                "revoked_tokens": 2}
    for token in tokens:
        after = await ha.http.post("/oauth/introspect", data={"token": token}, headers=rs_auth)
        assert after.json() == {"active": False}
    refused = await ha.token(reg["client_id"], reg["client_secret"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    me = await ha.http.get("/api/v1/agents/me", headers=bearer(reg["registration_access_token"]))
    assert me.json()["status"] == "suspended"
    assert (await ha.http.get("/api/v1/agents/me", headers=bearer(tokens[0]))).status_code == 401
    events = {e["event"]: e for e in await ha.events(reg["client_id"])}
    assert events["client.suspended"]["reason"] == "abuse report #12"
    assert events["client.suspended"]["actor"].startswith("admin-api:")
    assert events["client.tokens_revoked"]["count"] == 2
