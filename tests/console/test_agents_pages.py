"""Console agent pages: escaping, owner scoping, claims, approvals, kill switch, secrets, keys."""

from __future__ import annotations

import html

from gatepass.core.revocation import claims_revoked
from gatepass.core.usage import RATE_LIMIT_EVENT

from .conftest import APPROVAL_SCOPES, Harness

XSS = "<script>alert(1)</script>"


async def test_client_names_are_escaped_everywhere(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    await h.owner("root@example.com", operator=True)
    agent = await h.register(XSS, ("read:projects", APPROVAL_SCOPES[0]), owner=alice.email)
    cid = agent["client_id"]
    alice_browser = await h.signed_in(alice.email)
    claims = await alice_browser.get("/console")  # listed as a claim before confirmation
    operator = await h.signed_in("root@example.com")
    pages = [claims, await operator.get("/console"), await operator.get("/console/approvals"),
             await operator.get(f"/console/agents/{cid}")]
    for page in pages:
        assert page.status_code == 200
        assert XSS not in page.text
        assert html.escape(XSS) in page.text
    # Reasons typed by people are escaped too.
    denied = await operator.post(f"/console/approvals/{agent['approval_request_id']}",
                                 {"decision": "deny", "reason": "<img src=x onerror=alert(1)>"})
    assert denied.status_code == 303
    detail = await operator.get(f"/console/agents/{cid}")
    assert "<img src=x" not in detail.text and "&lt;img src=x onerror=alert(1)&gt;" in detail.text


async def test_an_owner_sees_and_acts_only_on_their_own_agents(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    await h.owner("bob@example.com")
    await h.owner("root@example.com", operator=True)
    agent = await h.owned_agent(alice, "alice-agent", ("read:projects", APPROVAL_SCOPES[0]))
    cid, request_id = agent["client_id"], agent["approval_request_id"]
    bob = await h.signed_in("bob@example.com")
    assert "alice-agent" not in (await bob.get("/console")).text
    assert "alice-agent" not in (await bob.get("/console/approvals")).text
    assert (await bob.get(f"/console/agents/{cid}")).status_code == 404
    for path, data in [(f"/console/agents/{cid}/suspend", {"reason": "x"}),
                       (f"/console/agents/{cid}/trust", {"level": "2"}),
                       (f"/console/agents/{cid}/rotate", {}),
                       (f"/console/approvals/{request_id}", {"decision": "approve",
                                                             "scope": APPROVAL_SCOPES[0]})]:
        refused = await bob.post(path, data)
        assert refused.status_code == 404, path
        assert "alice-agent" not in refused.text
    client = await h.runtime.stores.clients.get_client(cid)
    assert client is not None and client.status == "active" and client.trust_level == 0
    assert len(await h.runtime.stores.clients.list_secrets(cid)) == 1
    assert (await h.runtime.stores.approvals.get_approval(request_id)).status == "pending"  # type: ignore[union-attr]
    # Keys are operators' business.
    assert (await bob.get("/console/keys")).status_code == 403
    assert (await bob.post("/console/keys/rotate")).status_code == 403
    # Alice and the operator see it.
    alice_page = await (await h.signed_in(alice.email)).get("/console")
    assert "alice-agent" in alice_page.text
    operator = await h.signed_in("root@example.com")
    assert "alice-agent" in (await operator.get("/console")).text
    assert (await operator.get(f"/console/agents/{cid}")).status_code == 200


async def test_an_owner_hint_attaches_nothing_until_the_owner_confirms(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    await h.owner("bob@example.com")
    agent = await h.register("hinted-agent", owner="Alice@Example.com")
    cid = agent["client_id"]
    stored = await h.runtime.stores.clients.get_client(cid)
    assert stored is not None and stored.owner is None
    # Not Alice's yet: listed as a claim only, and no control over it.
    browser = await h.signed_in(alice.email)
    page = await browser.get("/console")
    assert "Agents naming you as their owner" in page.text and "hinted-agent" in page.text
    assert (await browser.get(f"/console/agents/{cid}")).status_code == 404
    # Bob cannot confirm a claim naming Alice.
    bob = await h.signed_in("bob@example.com")
    assert (await bob.post(f"/console/claims/{cid}/confirm")).status_code == 404
    confirmed = await browser.post(f"/console/claims/{cid}/confirm")
    assert confirmed.status_code == 303
    stored = await h.runtime.stores.clients.get_client(cid)
    assert stored is not None and stored.owner == alice.owner_id
    assert (await browser.get(f"/console/agents/{cid}")).status_code == 200
    assert "Agents naming you" not in (await browser.get("/console")).text
    # Confirming twice finds nothing to confirm.
    assert (await browser.post(f"/console/claims/{cid}/confirm")).status_code == 404
    # The owner is now in the agent's tokens.
    token = await h.token(cid, agent["client_secret"], "read:projects")
    assert token.status_code == 200
    claims = h.runtime.server.keyring.verify(token.json()["access_token"])
    assert claims is not None and claims.get("owner") == alice.owner_id
    events = {e.event: e for e in await h.events(cid)}
    assert events["owner.claim_confirmed"].actor == "owner:alice@example.com"


async def test_an_owner_can_reject_a_claim(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    agent = await h.register("stranger", owner=alice.email)
    browser = await h.signed_in(alice.email)
    rejected = await browser.post(f"/console/claims/{agent['client_id']}/reject")
    assert rejected.status_code == 303
    stored = await h.runtime.stores.clients.get_client(agent["client_id"])
    assert stored is not None and stored.owner is None
    assert "owner_hint" not in stored.metadata
    assert stored.metadata["owner_hint_rejected"] == alice.email
    assert "stranger" not in (await browser.get("/console")).text


async def test_approve_narrow_and_deny_use_the_admin_core(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    agent = await h.owned_agent(alice, "two-scopes", ("read:projects", *APPROVAL_SCOPES))
    cid, secret, request_id = (agent["client_id"], agent["client_secret"],
                               agent["approval_request_id"])
    browser = await h.signed_in(alice.email)
    page = await browser.get("/console/approvals")
    assert request_id in page.text and all(s in page.text for s in APPROVAL_SCOPES)
    # No scope ticked is not an approval.
    empty = await browser.post(f"/console/approvals/{request_id}", {"decision": "approve"})
    assert empty.status_code == 400
    # A scope outside the request is refused by the core.
    extra = await browser.post(f"/console/approvals/{request_id}",
                               {"decision": "approve", "scope": "write:projects"})
    assert extra.status_code == 400 and "Not part of the request" in extra.text
    narrowed = await browser.post(f"/console/approvals/{request_id}", {
        "decision": "approve", "scope": APPROVAL_SCOPES[0], "reason": "only payments"})
    assert narrowed.status_code == 303
    assert "granted: agent:payments" in (await browser.get("/console/approvals")).text
    decided = await h.runtime.stores.approvals.get_approval(request_id)
    assert decided is not None and decided.granted == (APPROVAL_SCOPES[0],)
    assert decided.decided_by == "console:alice@example.com"
    assert (await h.token(cid, secret, APPROVAL_SCOPES[0])).status_code == 200
    assert (await h.token(cid, secret, APPROVAL_SCOPES[1])).status_code == 400
    again = await browser.post(f"/console/approvals/{request_id}", {"decision": "deny"})
    assert again.status_code == 400 and "already decided" in again.text


async def test_deny_with_a_reason(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    agent = await h.owned_agent(alice, "denied", ("read:projects", APPROVAL_SCOPES[1]))
    browser = await h.signed_in(alice.email)
    response = await browser.post(f"/console/approvals/{agent['approval_request_id']}",
                                  {"decision": "deny", "reason": "no email for you",
                                   "scope": APPROVAL_SCOPES[1]})
    assert response.status_code == 303
    decided = await h.runtime.stores.approvals.get_approval(agent["approval_request_id"])
    assert decided is not None and decided.status == "denied" and decided.granted == ()
    assert decided.reason == "no email for you"
    event = next(e for e in await h.events(agent["client_id"]) if e.event == "approval.denied")
    assert event.reason == "no email for you" and event.actor == "console:alice@example.com"


async def test_approval_then_token_then_kill_switch(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    agent = await h.owned_agent(alice, "deployer", ("read:projects", "agent:autonomous-deploy"))
    cid, secret = agent["client_id"], agent["client_secret"]
    assert (await h.token(cid, secret, "agent:autonomous-deploy")).status_code == 400
    browser = await h.signed_in(alice.email)
    approved = await browser.post(f"/console/approvals/{agent['approval_request_id']}",
                                  {"decision": "approve", "scope": "agent:autonomous-deploy"})
    assert approved.status_code == 303
    ok = await h.token(cid, secret, "agent:autonomous-deploy")
    promoted = await browser.post(f"/console/agents/{cid}/trust",
                                  {"level": "2", "reason": "vetted"})
    assert promoted.status_code == 303
    assert ok.status_code == 200 and ok.json()["scope"] == "agent:autonomous-deploy"
    suspended = await browser.post(f"/console/agents/{cid}/suspend", {"reason": "rogue"})
    assert suspended.status_code == 303
    assert "1 outstanding token(s) revoked" in (await browser.get(f"/console/agents/{cid}")).text
    refused = await h.token(cid, secret, "agent:autonomous-deploy")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    claims = h.runtime.server.keyring.verify(ok.json()["access_token"])
    assert claims is not None  # revoked by the client's cutoff, not a jti entry
    assert await claims_revoked(h.runtime.stores.revocations, claims)
    # Only an operator lifts a suspension.
    assert (await browser.post(f"/console/agents/{cid}/reactivate")).status_code == 403
    await h.owner("root@example.com", operator=True)
    operator = await h.signed_in("root@example.com")
    assert (await operator.post(f"/console/agents/{cid}/reactivate")).status_code == 303
    assert (await h.token(cid, secret, "read:projects")).status_code == 200


async def test_forged_csrf_on_an_action_is_403_and_changes_nothing(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    agent = await h.owned_agent(alice)
    browser = await h.signed_in(alice.email)
    response = await browser.http.post(f"/console/agents/{agent['client_id']}/suspend",
                                       data={"csrf": "forged", "reason": "x"})
    assert response.status_code == 403
    assert "Invalid or missing CSRF token" in response.text
    no_token = await browser.http.post(f"/console/agents/{agent['client_id']}/suspend")
    assert no_token.status_code == 403
    client = await h.runtime.stores.clients.get_client(agent["client_id"])
    assert client is not None and client.status == "active"


async def test_rotate_shows_the_secret_once_and_drop_removes_the_old_one(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    agent = await h.owned_agent(alice)
    cid, old = agent["client_id"], agent["client_secret"]
    browser = await h.signed_in(alice.email)
    rotated = await browser.post(f"/console/agents/{cid}/rotate")
    assert rotated.status_code == 200
    new = rotated.text.split('<code class="secret">')[1].split("</code>")[0]
    assert new.startswith("gps_") and new != old
    assert (await h.token(cid, new)).status_code == 200
    assert (await h.token(cid, old)).status_code == 200  # within its grace period
    secrets_ = await h.runtime.stores.clients.list_secrets(cid)
    old_id = next(s.secret_id for s in secrets_ if s.expires_at is not None
                  and s.created_at <= min(x.created_at for x in secrets_))
    page = await browser.get(f"/console/agents/{cid}")
    assert new not in page.text  # shown once
    dropped = await browser.post(f"/console/agents/{cid}/drop-secret", {"secret_id": old_id})
    assert dropped.status_code == 303
    assert (await h.token(cid, old)).status_code == 401
    assert (await h.token(cid, new)).status_code == 200
    # The last secret cannot be dropped.
    last = (await h.runtime.stores.clients.list_secrets(cid))[0].secret_id
    refused = await browser.post(f"/console/agents/{cid}/drop-secret", {"secret_id": last})
    assert refused.status_code == 409


async def test_agents_list_shows_usage_from_the_audit_log(h: Harness) -> None:
    alice = await h.owner("alice@example.com")
    agent = await h.owned_agent(alice, "busy-agent")
    cid, secret = agent["client_id"], agent["client_secret"]
    for _ in range(3):
        assert (await h.token(cid, secret, "read:projects")).status_code == 200
    assert (await h.token(cid, secret, "write:projects")).status_code == 400
    h.runtime.server.audit.emit(RATE_LIMIT_EVENT, "failure", client_id=cid)
    page = (await (await h.signed_in(alice.email)).get("/console")).text
    row = page.split("busy-agent")[1].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split('<td class="num">')[1:]]
    assert cells == ["3", "1", "1"]
    assert "never" not in row
    assert "3 issued" in page and "1 refused" in page  # bar titles in the chart
    assert "<strong>3</strong> tokens issued" in page


async def test_keys_page_and_rotation_for_operators(h: Harness) -> None:
    await h.owner("root@example.com", operator=True)
    operator = await h.signed_in("root@example.com")
    page = await operator.get("/console/keys")
    assert page.status_code == 200 and "current" in page.text
    step = await operator.post("/console/keys/rotate")
    assert step.status_code == 303
    keys = await h.runtime.stores.keys.list_keys()
    assert sorted(k.state for k in keys) == ["current", "next"]
    assert "published" in (await operator.get("/console/keys")).text
    forced = await operator.post("/console/keys/rotate", {"force": "yes"})
    assert forced.status_code == 303
    states = {k.kid: k.state for k in await h.runtime.stores.keys.list_keys()}
    assert sorted(states.values()) == ["current", "previous"]
    assert h.runtime.server.keyring.kid == next(k for k, s in states.items() if s == "current")
    rotated = [e for e in await h.events() if e.event == "keys.rotated"]
    assert {e.actor for e in rotated} == {"console:root@example.com"}


async def test_unknown_approval_and_agent_are_404_pages(h: Harness) -> None:
    await h.owner("root@example.com", operator=True)
    operator = await h.signed_in("root@example.com")
    assert (await operator.post("/console/approvals/apr_nope", {"decision": "deny"})
            ).status_code == 404
    page = await operator.get("/console/agents/agent_nope")
    assert page.status_code == 404 and "Not found" in page.text
