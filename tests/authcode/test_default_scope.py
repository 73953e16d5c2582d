"""Issue 12 item 2: an authorization request without ``scope`` gets a documented default
(RFC 6749 §3.3) that the owner sees on the consent page; ``invalid_scope`` is kept for scopes
that cannot be granted."""

from __future__ import annotations

from pathlib import Path

from gatepass.clock import FrozenClock
from gatepass.settings import ScopeSetting

from .conftest import Browser, browser, inputs, pkce, query, settings_for

PLAIN = {"read:projects", "write:projects", "read:analytics", "write:webhooks",
         "agent:batch-operations", "agent:webhook-management"}


async def test_no_scope_gets_the_catalog_default_and_the_owner_sees_it(ac: Browser) -> None:
    client = await ac.register(scope=None)  # RFC 7591, code flow, no scope registered
    verifier, challenge = pkce()
    page = await ac.authorize(ac.params(client["client_id"], challenge, scope=None))
    assert page.status_code == 200, page.text
    assert "named no permissions" in page.text
    listed = {name for name in PLAIN | {"read:billing", "gatepass:admin",
                                        "agent:autonomous-deploy"}
              if f"<code>{name}</code>" in page.text}
    # the free tier holds back agent:batch-operations (min_tier agent_standard)
    assert listed == PLAIN - {"agent:batch-operations"}
    answer = await ac.decide(page)
    code = query(answer.headers["location"])["code"]
    token = await ac.exchange(client["client_id"], code, verifier)
    assert token.status_code == 200, token.text
    assert set(token.json()["scope"].split()) == listed


async def test_no_scope_is_limited_to_what_the_client_registered(ac: Browser) -> None:
    client = await ac.register(scope="read:projects read:billing")
    _, challenge = pkce()
    page = await ac.authorize(ac.params(client["client_id"], challenge, scope=None))
    assert page.status_code == 200, page.text
    assert dict(inputs(page.text))["scope"] == "read:projects"  # read:billing needs trust


async def test_invalid_scope_only_when_nothing_can_be_granted(tmp_path: Path,
                                                              clock: FrozenClock) -> None:
    catalog = [ScopeSetting(name="write:deploys", requires_approval=True),
               ScopeSetting(name="read:billing", min_trust=1)]
    async with browser(settings_for(tmp_path, scopes=catalog), clock) as b:
        await b.create_owner()
        await b.sign_in()
        client = await b.register(scope=None)
        _, challenge = pkce()
        refused = await b.authorize(b.params(client["client_id"], challenge, scope=None))
        assert refused.status_code == 303
        got = query(refused.headers["location"])
        assert got["error"] == "invalid_scope" and "request one" in got["error_description"]
        # consent never reaches past what the client registered (issue #8, item 1)
        asked = await b.authorize(b.params(client["client_id"], challenge, scope="write:deploys"))
        assert asked.status_code == 303
        assert query(asked.headers["location"])["error"] == "invalid_scope"
