"""Issue 13, item 1: a self-registered agent cannot obtain ``gatepass:admin``.

The attack: RFC 7591 registration with ``agent_type`` and the authorization-code grant, a
promotion to the top trust level, a non-operator owner who clicks Allow on
``scope=gatepass:admin gatepass:introspect``, and the token used at the admin API. Internal
scopes now go only to operator clients (``clients create --operator``), never through
``/oauth/authorize`` nor by trust; the admin API wants an operator client or operator owner.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import pytest

from authcode.conftest import APP_REDIRECT, Browser, pkce, query
from gatepass.core.owners import Owners
from gatepass.core.policy import ceiling_violation
from gatepass.errors import InvalidScope

ADMIN = "/api/v1/admin"
INTERNAL = "gatepass:admin gatepass:introspect"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _self_registered_agent(ac: Browser) -> dict[str, Any]:
    """A confidential code-flow agent registered by RFC 7591, promoted to the top level."""
    doc = await ac.register(agent_type="autonomous", redirect_uris=[APP_REDIRECT],
                            token_endpoint_auth_method="client_secret_basic",
                            scope="read:projects")
    top = ac.rt.server.config.agents.max_trust
    promoted = await ac.rt.admin.set_trust(doc["client_id"], top, actor="test")
    assert promoted.trust_level == top and promoted.agent_type == "autonomous"
    assert not promoted.operator
    return doc


def _refused_redirect(resp: Any, scope_named: str) -> None:
    assert resp.status_code in (302, 303), resp.text
    got = query(resp.headers["location"])
    assert got["error"] == "invalid_scope", got
    assert scope_named in got["error_description"]
    assert "code" not in got


def _mint(ac: Browser, client_id: str, sub: str, scope: str = "gatepass:admin") -> str:
    """A token as the issuer signs it (as if minted before the fix)."""
    server = ac.rt.server
    now = int(server.clock.now())
    return server.keyring.sign({"iss": server.config.issuer, "aud": server.config.issuer,
                                "sub": sub, "client_id": client_id, "scope": scope,
                                "jti": secrets.token_urlsafe(8), "iat": now, "exp": now + 300})


async def _assert_admin_refused(ac: Browser, token: str, agent_id: str) -> None:
    listed = await ac.http.get(f"{ADMIN}/agents", headers=bearer(token))
    trust = await ac.http.post(f"{ADMIN}/agents/{agent_id}/trust", headers=bearer(token),
                               json={"level": 2, "reason": "self-promotion"})
    for resp in (listed, trust):
        assert resp.status_code == 403, resp.text
        body = resp.json()
        assert body["error"] == "insufficient_scope"
        assert "operator" in body["error_description"]
        assert 'error="insufficient_scope"' in resp.headers["www-authenticate"]


async def test_owner_consent_to_internal_scopes_is_refused_for_a_promoted_agent(
        ac: Browser) -> None:
    agent = await _self_registered_agent(ac)
    cid = agent["client_id"]
    _, challenge = pkce()
    attack = await ac.authorize(ac.params(cid, challenge, APP_REDIRECT, scope=INTERNAL))
    _refused_redirect(attack, "gatepass:admin")
    # even if an operator had listed the scope on the agent, the authorization endpoint and
    # the client-credentials grant refuse it: internal scopes are for operator clients only
    client = await ac.rt.admin.get_client(cid)
    await ac.rt.stores.clients.update_client(replace(
        client, allowed_scopes=(*client.allowed_scopes, "gatepass:admin"),
        grant_types=(*client.grant_types, "client_credentials")))
    ac.rt.server.directory.invalidate(cid)
    again = await ac.authorize(ac.params(cid, challenge, APP_REDIRECT, scope="gatepass:admin"))
    _refused_redirect(again, "gatepass:admin")
    direct = await ac.http.post("/oauth/token", auth=(cid, agent["client_secret"]), data={
        "grant_type": "client_credentials", "scope": "gatepass:admin"})
    assert direct.status_code == 400, direct.text
    assert direct.json()["error"] == "invalid_scope"
    assert "reserved for operator clients" in direct.json()["error_description"]
    # the legitimate consent of this agent still works
    code, verifier = await ac.code(cid, APP_REDIRECT, scope="read:projects")
    token = await ac.exchange(cid, code, verifier, APP_REDIRECT,
                              auth=(cid, agent["client_secret"]))
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read:projects"


async def test_promotion_rules_never_reach_internal_scopes(ac: Browser) -> None:
    agent = await _self_registered_agent(ac)
    client = await ac.rt.admin.get_client(agent["client_id"])
    for name in INTERNAL.split():
        spec = ac.rt.server.config.scope(name)
        assert spec is not None and spec.internal
        assert ceiling_violation(ac.rt.server.config, client, spec) == (
            "is reserved for operator clients")


async def test_admin_api_refuses_tokens_of_non_operator_clients_and_owners(ac: Browser) -> None:
    agent = await _self_registered_agent(ac)
    cid = agent["client_id"]
    assert ac.owner is not None and not ac.owner.is_operator
    await _assert_admin_refused(ac, _mint(ac, cid, ac.owner.owner_id), cid)  # owner-delegated
    await _assert_admin_refused(ac, _mint(ac, cid, cid), cid)  # in the client's own name
    assert (await ac.rt.admin.get_client(cid)).trust_level == 2
    await ac.rt.server.audit.flush()
    events = [e.event for e in await ac.rt.stores.audit.recent(100, cid)]
    assert events.count("client.trust_changed") == 1  # the test's own promotion only


async def test_operator_clients_and_operator_owners_reach_the_admin_api(ac: Browser) -> None:
    agent = await _self_registered_agent(ac)
    ops = await ac.rt.admin.create_client("ops", "gatepass:admin", operator=True)
    assert ops.secret is not None and ops.client.operator
    resp = await ac.http.post("/oauth/token", auth=(ops.client.client_id, ops.secret), data={
        "grant_type": "client_credentials", "scope": "gatepass:admin"})
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    listed = await ac.http.get(f"{ADMIN}/agents", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert agent["client_id"] in [a["client_id"] for a in listed.json()]
    demoted = await ac.http.post(f"{ADMIN}/agents/{agent['client_id']}/trust",
                                 headers=bearer(token), json={"level": 0, "reason": "review"})
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["trust_level"] == 0
    operator = await Owners(ac.rt.server, ac.rt.stores.owners).create(
        "ops@example.com", "another long password", actor="test")
    await ac.rt.stores.owners.update_owner(replace(operator, is_operator=True))
    by_owner = await ac.http.get(f"{ADMIN}/agents",
                                 headers=bearer(_mint(ac, agent["client_id"], operator.owner_id)))
    assert by_owner.status_code == 200, by_owner.text


async def test_internal_scopes_need_an_explicit_operator_client(ac: Browser) -> None:
    """``create_client`` without ``operator`` refuses internal scopes; the legitimate operator
    client is never granted them through the authorization endpoint either."""
    with pytest.raises(InvalidScope, match="reserved for operator clients"):
        await ac.rt.admin.create_client("not-ops", "read:projects gatepass:admin")
    ops = await ac.rt.admin.create_client(
        "ops-app", "read:projects gatepass:admin", operator=True,
        grant_types=("authorization_code",), metadata={"redirect_uris": [APP_REDIRECT]})
    _, challenge = pkce()
    resp = await ac.authorize(ac.params(ops.client.client_id, challenge, APP_REDIRECT,
                                        scope="gatepass:admin"))
    _refused_redirect(resp, "gatepass:admin")
    page = await ac.authorize(ac.params(ops.client.client_id, challenge, APP_REDIRECT,
                                        scope="read:projects"))
    assert page.status_code == 200, page.text
