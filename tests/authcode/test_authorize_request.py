"""The authorization request (RFC 6749 §4.1.1, §4.1.2.1; RFC 7636 §4.3; RFC 8252 §7.3; RFC 8707
§2; RFC 9207 §2): what is shown as a page, what goes back to the client, and sign-in first."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import httpx
import pytest

from gatepass.core.authorize import redirect_uri_matches

from .conftest import EMAIL, ISSUER, NATIVE_REDIRECT, PASSWORD, Browser, inputs, pkce, query


async def _public(ac: Browser, *redirects: str) -> str:
    doc = await ac.register(redirect_uris=list(redirects or [NATIVE_REDIRECT]))
    return str(doc["client_id"])


def _assert_page(resp: httpx.Response, status: int = 400) -> None:
    assert resp.status_code == status
    assert "location" not in resp.headers
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-store"


async def test_rfc6749_4_1_2_1_unknown_client_is_a_page_never_a_redirect(ac: Browser) -> None:
    _, challenge = pkce()
    resp = await ac.authorize(ac.params("client_nope", challenge))
    _assert_page(resp)
    assert "Unknown client_id" in resp.text


async def test_rfc6749_4_1_2_1_missing_or_repeated_client_id_is_a_page(ac: Browser) -> None:
    cid = await _public(ac)
    _, challenge = pkce()
    params = ac.params(cid, challenge)
    del params["client_id"]
    _assert_page(await ac.authorize(params))
    _assert_page(await ac.authorize([*ac.params(cid, challenge).items(), ("client_id", cid)]))


@pytest.mark.parametrize("presented", [
    "https://evil.example/callback",
    "http://127.0.0.1/other",
    "http://127.0.0.1/callback?x=1",
    "http://127.0.0.1/callback/",
    "https://127.0.0.1/callback",
    "http://127.0.0.1/callback#frag",
    "http://127.0.0.2/callback",
    "http://localhost/callback",
    "http://127.0.0.1:5000@evil.example/callback",
    "http://evil.example@127.0.0.1/callback",
    "http://[::1/callback",
    "http://127.0.0.1:port/callback",
])
async def test_rfc6749_4_1_2_1_unregistered_redirect_uri_is_never_redirected_to(
    ac: Browser, presented: str
) -> None:
    cid = await _public(ac)
    _, challenge = pkce()
    resp = await ac.authorize(ac.params(cid, challenge, presented))
    _assert_page(resp)
    assert "redirect_uri is not registered" in resp.text


async def test_rfc6749_3_1_2_3_missing_redirect_uri_is_a_page(ac: Browser) -> None:
    cid = await _public(ac)
    _, challenge = pkce()
    params = ac.params(cid, challenge)
    del params["redirect_uri"]
    _assert_page(await ac.authorize(params))


async def test_rfc6749_3_1_2_https_redirect_needs_an_exact_match_port_included(
    ac: Browser
) -> None:
    cid = await _public(ac, "https://app.example.com/cb")
    _, challenge = pkce()
    _assert_page(await ac.authorize(ac.params(cid, challenge, "https://app.example.com:8443/cb")))
    ok = await ac.authorize(ac.params(cid, challenge, "https://app.example.com/cb"))
    assert ok.status_code == 200


@pytest.mark.parametrize(("registered", "presented"), [
    ("http://127.0.0.1/callback", "http://127.0.0.1:53682/callback"),
    ("http://127.0.0.1:3000/callback", "http://127.0.0.1:4000/callback"),
    ("http://localhost:3000/callback", "http://localhost:61234/callback"),
    ("http://[::1]/callback", "http://[::1]:8080/callback"),
])
async def test_rfc8252_7_3_loopback_redirect_may_use_any_port(
    ac: Browser, registered: str, presented: str
) -> None:
    cid = await _public(ac, registered)
    code, verifier = await ac.code(cid, presented)
    token = await ac.exchange(cid, code, verifier, presented)
    assert token.status_code == 200, token.text


@pytest.mark.parametrize(("registered", "presented", "ok"), [
    ("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:80/cb?x", False),
    ("https://127.0.0.1/cb", "https://127.0.0.1:444/cb", False),
    ("http://example.com/cb", "http://example.com:81/cb", False),
    ("http://127.0.0.1/cb", "http://127.0.0.1:81/cb", True),
])
def test_rfc8252_7_3_port_rule_only_for_http_loopback(
    registered: str, presented: str, ok: bool
) -> None:
    assert redirect_uri_matches(registered, presented) is ok


@pytest.mark.parametrize(("change", "error", "needle"), [
    ({"response_type": "token"}, "unsupported_response_type", "response_type=code"),
    ({"response_type": None}, "invalid_request", "response_type"),
    ({"code_challenge": None}, "invalid_request", "code_challenge is required"),
    ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
    ({"code_challenge_method": None}, "invalid_request", "S256"),
    ({"code_challenge": "a" * 42}, "invalid_request", "43 base64url"),
    ({"code_challenge": "a" * 42 + "="}, "invalid_request", "43 base64url"),
    ({"scope": "read:projects delete:world"}, "invalid_scope", "delete:world"),
    ({"scope": "gatepass:admin"}, "invalid_scope", "gatepass:admin"),
    ({"resource": "https://elsewhere.example.com"}, "invalid_target", "elsewhere"),
    ({"resource": "https://[::1/x"}, "invalid_target", "absolute URI"),
    ({"state": "s" * 1025}, "invalid_request", "state"),
])
async def test_rfc6749_4_1_2_1_errors_after_the_redirect_uri_is_trusted_go_back_with_iss(
    ac: Browser, change: dict[str, str | None], error: str, needle: str
) -> None:
    cid = await _public(ac)
    _, challenge = pkce()
    params = ac.params(cid, challenge, "http://127.0.0.1:7777/callback", **change)
    resp = await ac.authorize(params)
    assert resp.status_code == 303, resp.text
    location = resp.headers["location"]
    assert location.startswith("http://127.0.0.1:7777/callback?")
    got = query(location)
    assert got["error"] == error
    assert needle in got["error_description"]
    assert got["iss"] == ISSUER  # RFC 9207 §2
    assert got.get("state") == params.get("state") or error == "invalid_request"


async def test_rfc6749_3_1_repeated_parameter_goes_back_as_invalid_request(ac: Browser) -> None:
    cid = await _public(ac)
    _, challenge = pkce()
    params = [*ac.params(cid, challenge).items(), ("scope", "read:projects")]
    got = query((await ac.authorize(params)).headers["location"])
    assert got["error"] == "invalid_request"
    assert "scope" in got["error_description"]


async def test_rfc6749_4_1_2_1_unauthorized_client_for_a_client_credentials_client(
    ac: Browser
) -> None:
    created = await ac.rt.admin.create_client(
        "svc", "read:projects", metadata={"redirect_uris": ["https://svc.example.com/cb"]})
    _, challenge = pkce()
    resp = await ac.authorize(ac.params(created.client.client_id, challenge,
                                        "https://svc.example.com/cb", scope="read:projects"))
    assert query(resp.headers["location"])["error"] == "unauthorized_client"


async def test_rfc6749_4_1_2_1_suspended_client_is_a_page(ac: Browser) -> None:
    cid = await _public(ac)
    await ac.rt.admin.suspend(cid, actor="test")
    _, challenge = pkce()
    resp = await ac.authorize(ac.params(cid, challenge))
    _assert_page(resp)
    assert "suspended" in resp.text


async def test_rfc6749_4_1_1_signed_out_owner_goes_to_login_and_comes_back(ac: Browser) -> None:
    cid = await _public(ac)
    _, challenge = pkce()
    params = ac.params(cid, challenge)
    ac.http.cookies.clear()
    resp = await ac.authorize(params)
    assert resp.status_code == 303
    back = "/oauth/authorize?" + urlencode(params)
    assert resp.headers["location"] == "/console/login?next=" + quote(back, safe="")
    login = await ac.http.get(resp.headers["location"])
    fields = dict(inputs(login.text))
    signed = await ac.http.post("/console/login", data={
        "csrf": fields["csrf"], "next": fields["next"], "email": EMAIL, "password": PASSWORD})
    assert signed.status_code == 303
    assert signed.headers["location"] == back
    page = await ac.http.get(back)
    assert page.status_code == 200
    assert "Test MCP client" in page.text
