"""The consent page and decision (RFC 6749 §4.1.1-§4.1.2, §10.12 CSRF; RFC 9700 §4.7 clickjacking
and §4.11-§4.12 redirects; RFC 9207 §2 ``iss``): names, escaping, CSRF, allow and deny."""

from __future__ import annotations

from urllib.parse import urlencode

from .conftest import API, APP_REDIRECT, ISSUER, NATIVE_REDIRECT, Browser, inputs, pkce, query

XSS = '<script>alert("x")</script>&\'"'


async def test_rfc6749_4_1_1_consent_names_client_domain_and_each_scope(ac: Browser) -> None:
    created = await ac.rt.admin.create_client(
        "Deploy Bot", "read:projects agent:autonomous-deploy",
        grant_types=("authorization_code",), metadata={"redirect_uris": [APP_REDIRECT]})
    cid = created.client.client_id
    _, challenge = pkce()
    page = await ac.authorize(ac.params(cid, challenge, APP_REDIRECT,
                                        scope="read:projects agent:autonomous-deploy",
                                        resource=API))
    assert page.status_code == 200, page.text
    html = page.text
    assert "Deploy Bot" in html
    assert "app.example.com" in html  # the domain the code is sent to
    assert "List and read project data" in html
    assert "Trigger deployments without per-deployment approval" in html
    assert html.count("requires your approval") == 1  # agent:autonomous-deploy only
    assert API in html
    assert "owner@example.com" in html
    assert "named itself" not in html  # operator-created: no self-description warning


async def test_consent_cannot_grant_scopes_beyond_the_registered_ones(ac: Browser) -> None:
    """The client's allowed scopes bound what an owner can consent to (issue 13, item 1): a
    wider request goes back to the client as invalid_scope; the registered ones still work."""
    created = await ac.rt.admin.create_client(
        "Step-up Bot", "read:projects", grant_types=("authorization_code",),
        metadata={"redirect_uris": [APP_REDIRECT]})
    _, challenge = pkce()
    wider = await ac.authorize(ac.params(created.client.client_id, challenge, APP_REDIRECT,
                                         scope="read:projects write:projects"))
    assert wider.status_code == 303, wider.text
    got = query(wider.headers["location"])
    assert got["error"] == "invalid_scope" and "write:projects" in got["error_description"]
    page = await ac.authorize(ac.params(created.client.client_id, challenge, APP_REDIRECT,
                                        scope="read:projects"))
    assert page.status_code == 200, page.text
    assert "List and read project data" in page.text


async def test_rfc9700_4_7_consent_page_cannot_be_framed_or_cached(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    _, challenge = pkce()
    page = await ac.authorize(ac.params(cid, challenge, "http://127.0.0.1:4321/callback"))
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' http://127.0.0.1:4321;" in csp  # the 303 target is allowed
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_xss_every_echoed_value_is_escaped(ac: Browser) -> None:
    redirect = 'http://127.0.0.1/cb?a="><script>alert(2)</script>'
    doc = await ac.register(client_name=XSS, redirect_uris=[redirect])
    _, challenge = pkce()
    page = await ac.authorize(ac.params(doc["client_id"], challenge, redirect, state=XSS))
    assert page.status_code == 200, page.text
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#39;&#34;" in page.text
    assert "named itself" in page.text  # a self-registered client is flagged
    assert dict(inputs(page.text))["state"] == XSS  # round-trips intact through the form


async def test_xss_error_page_escapes_the_description(ac: Browser) -> None:
    _, challenge = pkce()
    page = await ac.authorize(ac.params(XSS, challenge))
    assert page.status_code == 400
    assert "<script>" not in page.text


async def test_rfc6749_10_12_forged_csrf_token_is_403_and_issues_nothing(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    _, challenge = pkce()
    page = await ac.authorize(ac.params(cid, challenge))
    forged = await ac.decide(page, csrf="forged-" + "A" * 40)
    assert forged.status_code == 403
    assert "location" not in forged.headers
    assert "CSRF" in forged.text
    fields = [(k, v) for k, v in inputs(page.text) if k != "csrf"] + [("decision", "approve")]
    missing = await ac.http.post("/oauth/authorize", content=urlencode(fields),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert missing.status_code == 403
    await ac.rt.server.audit.flush()
    events = await ac.rt.stores.audit.find(cid, "authorization.approved")
    assert events == []


async def test_rfc6749_10_12_csrf_token_of_another_session_is_403(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    _, challenge = pkce()
    page = await ac.authorize(ac.params(cid, challenge))
    other_csrf = dict(inputs(page.text))["csrf"]
    await ac.sign_in()  # a fresh session: new CSRF token
    replayed = await ac.decide(page, csrf=other_csrf)
    assert replayed.status_code == 403


async def test_rfc6749_4_1_2_1_deny_sends_access_denied_with_state_and_iss(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    _, challenge = pkce()
    params = ac.params(cid, challenge)
    resp = await ac.decide(await ac.authorize(params), "deny")
    assert resp.status_code == 303
    assert resp.headers["location"].startswith(NATIVE_REDIRECT + "?")
    got = query(resp.headers["location"])
    assert got["error"] == "access_denied"
    assert got["state"] == params["state"]
    assert got["iss"] == ISSUER
    assert "code" not in got


async def test_rfc6749_4_1_2_approve_sends_code_state_and_iss(ac: Browser) -> None:
    doc = await ac.register(redirect_uris=["http://127.0.0.1/cb?keep=1"])
    _, challenge = pkce()
    params = ac.params(doc["client_id"], challenge, "http://127.0.0.1:9000/cb?keep=1")
    resp = await ac.decide(await ac.authorize(params))
    assert resp.status_code == 303
    location = resp.headers["location"]
    assert location.startswith("http://127.0.0.1:9000/cb?keep=1&")  # query kept (§3.1.2)
    got = query(location)
    assert set(got) == {"keep", "code", "state", "iss"}
    assert got["state"] == params["state"]
    assert got["iss"] == ISSUER
    assert len(got["code"]) >= 43  # 256 random bits
    assert resp.headers["cache-control"] == "no-store"


async def test_rfc6749_4_1_2_1_tampered_consent_form_is_validated_again(ac: Browser) -> None:
    cid = (await ac.register())["client_id"]
    _, challenge = pkce()
    page = await ac.authorize(ac.params(cid, challenge))
    evil = await ac.decide(page, redirect_uri="https://evil.example/callback")
    assert evil.status_code == 400
    assert "location" not in evil.headers
    wider = await ac.decide(page, scope="read:projects gatepass:admin")
    assert query(wider.headers["location"])["error"] == "invalid_scope"


async def test_consent_post_needs_a_form_body(ac: Browser) -> None:
    resp = await ac.http.post("/oauth/authorize", json={"decision": "approve"})
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("text/html")
