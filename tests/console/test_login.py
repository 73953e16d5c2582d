"""Console sign-in: cookies, headers, CSRF, one answer for unknown and wrong, throttling."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatepass.core.owners import LOGIN_FAILED
from gatepass.http.console._pages import safe_next
from gatepass.http.console.login import TOO_MANY
from gatepass.http.session import LOGIN_PATH, login_url

from .conftest import PASSWORD, Harness, console_settings, running

HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def assert_secure_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in HEADERS.items():
        assert headers[name] == value, name
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'none'" in csp


def _error(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', html)
    assert found, html
    return found.group(1)


async def test_every_console_response_carries_the_security_headers(h: Harness) -> None:
    await h.owner("alice@example.com")
    browser = h.browser()
    login = await browser.get("/console/login")
    assert login.status_code == 200
    assert 'name="csrf"' in login.text
    redirected = await browser.get("/console/agents/nobody")
    forged = await browser.http.post("/console/login", data={"csrf": "forged"})
    css = await browser.get("/console/static/console.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    signed_in = await browser.login("alice@example.com")
    home = await browser.get("/console")
    missing = await browser.get("/console/agents/agent_unknown")
    for response in (login, redirected, forged, css, signed_in, home, missing):
        assert_secure_headers(response)
    assert home.status_code == 200 and "<svg" in home.text
    assert missing.status_code == 404


async def test_session_cookie_is_httponly_lax_and_not_secure_in_development(h: Harness) -> None:
    response = await h.browser().get("/console/login")
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("gatepass_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie


async def test_session_cookie_is_secure_outside_development(tmp_path: Path) -> None:
    async with running(console_settings(tmp_path, development=False)) as h:
        response = await h.browser().get("/console/login")
    assert "; secure" in response.headers["set-cookie"].lower()


async def test_sign_in_starts_a_fresh_session_and_returns_to_next(h: Harness) -> None:
    await h.owner("alice@example.com")
    browser = h.browser()
    before = await browser.csrf()
    nxt = "/authorize?client_id=abc&scope=read%3Aprojects"
    response = await browser.login("Alice@Example.COM ", nxt=nxt)
    assert response.status_code == 303
    assert response.headers["location"] == nxt
    after = await browser.csrf()
    assert after != before  # no fixation: a new session and a new CSRF token
    assert (await browser.get("/console")).status_code == 200


@pytest.mark.parametrize("nxt", ["//evil.example/x", "https://evil.example/",
                                 "/\\evil.example", "javascript:alert(1)", "/\tx", ""])
async def test_next_must_be_a_same_site_path(h: Harness, nxt: str) -> None:
    await h.owner("alice@example.com")
    response = await h.browser().login("alice@example.com", nxt=nxt)
    assert response.status_code == 303
    assert response.headers["location"] == "/console"


def test_safe_next_accepts_what_login_url_builds() -> None:
    assert login_url("/authorize?x=1").startswith(LOGIN_PATH + "?next=")
    assert safe_next("/authorize?x=1&y=%2F") == "/authorize?x=1&y=%2F"
    assert safe_next(None) == "/console"


async def test_login_page_keeps_next_from_the_query(h: Harness) -> None:
    page = await h.browser().get(login_url("/authorize?client_id=a&state=<x>"))
    assert 'name="next" value="/authorize?client_id=a&amp;state=&lt;x&gt;"' in page.text


async def test_signed_out_visitor_is_sent_to_login_and_back(h: Harness) -> None:
    response = await h.browser().get("/console/approvals?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == login_url("/console/approvals?x=1")


async def test_wrong_password_and_unknown_account_get_the_same_answer(h: Harness) -> None:
    await h.owner("alice@example.com")
    wrong = await h.browser().login("alice@example.com", "not the password")
    unknown = await h.browser().login("nobody@example.com", "not the password")
    malformed = await h.browser().login("not-an-email", "not the password")
    for response in (wrong, unknown, malformed):
        assert response.status_code == 401
        assert _error(response.text) == LOGIN_FAILED
    events = [e for e in await h.events() if e.event == "owner.login"]
    assert [e.outcome for e in events] == ["failure"] * 3
    assert all("not the password" not in str(e) for e in events)


async def test_a_disabled_owner_cannot_sign_in(h: Harness) -> None:
    from dataclasses import replace

    owner = await h.owner("alice@example.com")
    await h.runtime.stores.owners.update_owner(replace(owner, disabled=True))
    response = await h.browser().login("alice@example.com")
    assert response.status_code == 401 and _error(response.text) == LOGIN_FAILED


async def test_forged_or_missing_csrf_on_login_is_403(h: Harness) -> None:
    await h.owner("alice@example.com")
    browser = h.browser()
    await browser.get("/console/login")
    forged = await browser.http.post("/console/login", data={
        "csrf": "forged", "email": "alice@example.com", "password": PASSWORD})
    missing = await browser.http.post("/console/login", data={
        "email": "alice@example.com", "password": PASSWORD})
    for response in (forged, missing):
        assert response.status_code == 403
        assert "Invalid or missing CSRF token" in response.text
    # A token from another session is forged too.
    other = await h.browser().csrf()
    stolen = await browser.http.post("/console/login", data={
        "csrf": other, "email": "alice@example.com", "password": PASSWORD})
    assert stolen.status_code == 403
    assert (await browser.get("/console")).status_code == 303  # still signed out


async def test_too_many_attempts_on_one_account_from_one_address_are_throttled(
        h: Harness) -> None:
    await h.owner("alice@example.com")
    await h.owner("bob@example.com")
    for _ in range(5):
        response = await h.browser("192.0.2.1").login("alice@example.com", "wrong password")
        assert response.status_code == 401
    # Even the right password is refused now from that address, with the generic message.
    blocked = await h.browser("192.0.2.1").login("ALICE@example.com")
    assert blocked.status_code == 429
    assert _error(blocked.text) == TOO_MANY
    assert int(blocked.headers["retry-after"]) > 0
    assert_secure_headers(blocked)
    # Unknown accounts are throttled the same way (nothing to learn from the throttle).
    for _ in range(5):
        await h.browser().login("ghost@example.com", "wrong password")
    assert (await h.browser().login("ghost@example.com", "x" * 12)).status_code == 429
    # Another account from the same address, and the owner from elsewhere, are not affected.
    assert (await h.browser("192.0.2.1").login("bob@example.com")).status_code == 303
    assert (await h.browser("192.0.2.99").login("alice@example.com")).status_code == 303


async def test_too_many_attempts_from_one_address_are_throttled(h: Harness) -> None:
    await h.owner("alice@example.com")
    for i in range(20):
        response = await h.browser("192.0.2.7").login(f"user{i}@example.com", "wrong password")
        assert response.status_code == 401
    blocked = await h.browser("192.0.2.7").login("alice@example.com")
    assert blocked.status_code == 429 and _error(blocked.text) == TOO_MANY
    assert (await h.browser("192.0.2.8").login("alice@example.com")).status_code == 303


async def test_logout_needs_post_and_csrf(h: Harness) -> None:
    await h.owner("alice@example.com")
    browser = await h.signed_in("alice@example.com")
    assert (await browser.get("/console/logout")).status_code == 405
    forged = await browser.http.post("/console/logout", data={"csrf": "nope"})
    assert forged.status_code == 403
    assert (await browser.get("/console")).status_code == 200  # still signed in
    out = await browser.post("/console/logout")
    assert out.status_code == 303 and out.headers["location"] == LOGIN_PATH
    assert "Signed out." in (await browser.get(LOGIN_PATH)).text
    assert (await browser.get("/console")).status_code == 303
