"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document §3, §4, §6) from
a real loopback HTTP server, development mode (http and loopback allowed), and the SSRF rules
outside it; caching per RFC 9111 §5.2.2."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatepass.clock import FrozenClock
from gatepass.http.cimd_fetch import CimdFetcher, CimdFetchError, cache_lifetime
from gatepass.http.fetch import UnsafeUrl

from .conftest import (
    NATIVE_REDIRECT,
    Browser,
    DocServer,
    browser,
    inputs,
    pkce,
    query,
    settings_for,
)

XSS_NAME = '<img src=x onerror=alert(1)> "Helper"'


def document(url: str, **fields: Any) -> dict[str, Any]:
    return {"client_id": url, "client_name": XSS_NAME, "redirect_uris": [NATIVE_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", "scope": "read:projects write:projects",
            **fields}


@pytest.fixture
async def dev(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Browser]:
    """A development-mode server with a signed-in owner."""
    async with browser(settings_for(tmp_path, development=True), clock) as b:
        b.owner = await b.create_owner()
        await b.sign_in()
        yield b


async def test_cimd_4_flow_with_a_url_client_id(dev: Browser, docs: DocServer) -> None:
    url = docs.url("/clients/helper.json")
    docs.put("/clients/helper.json", document(url))
    _, challenge = pkce()
    page = await dev.authorize(dev.params(url, challenge))
    assert page.status_code == 200, page.text
    assert "<img" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt; &#34;Helper&#34;" in page.text
    assert "<dd class=\"mono\">127.0.0.1</dd>" in page.text  # the document's domain
    assert "named itself" in page.text
    code, verifier = await dev.code(url)
    token = await dev.exchange(url, code, verifier)
    assert token.status_code == 200, token.text
    claims = dev.claims(token.json()["access_token"])
    assert dev.owner is not None
    assert (claims["client_id"], claims["sub"]) == (url, dev.owner.owner_id)
    refreshed = await dev.refresh(url, token.json()["refresh_token"])
    assert refreshed.status_code == 200


@pytest.mark.parametrize(("fields", "needle"), [
    ({"client_id": "https://other.example/client.json"}, "does not equal its URL"),
    ({"client_secret": "s3cret"}, "must not contain a client_secret"),
    ({"token_endpoint_auth_method": "client_secret_basic"}, "none"),
    ({"redirect_uris": ["http://127.0.0.1/elsewhere"]}, "redirect_uri is not registered"),
    ({"redirect_uris": []}, "no redirect_uris"),
    ({"redirect_uris": ["myapp://callback"]}, "use https"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "Invalid redirect_uri"),
    ({"redirect_uris": ["http://127.0.0.1/callback#x"]}, "Invalid redirect_uri"),
    ({"redirect_uris": "http://127.0.0.1/callback"}, "list of strings"),
    ({"grant_types": ["client_credentials"]}, "grant_types"),
    ({"response_types": ["token"]}, "response_types"),
    ({"client_name": 7}, "client_name"),
])
async def test_cimd_4_1_document_that_does_not_fit_is_a_clear_error_page(
    dev: Browser, docs: DocServer, fields: dict[str, Any], needle: str
) -> None:
    url = docs.url("/c.json")
    docs.put("/c.json", document(url, **fields))
    _, challenge = pkce()
    resp = await dev.authorize(dev.params(url, challenge))
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert needle in resp.text.replace("&#39;", "'").replace("&#34;", '"')


@pytest.mark.parametrize(("status", "headers", "body", "needle"), [
    (404, {}, b"{}", "answered HTTP 404"),
    (302, {"location": "https://evil.example/c.json"}, b"", "redirect"),
    (200, {"content-type": "text/html"}, b"<html></html>", "not JSON"),
    (200, {}, b"[1, 2]", "not a JSON object"),
    (200, {}, b"{nope", "not valid JSON"),
    (200, {}, b"{" + b'"x": "' + b"a" * 6000 + b'"}', "larger than 5120 bytes"),
])
async def test_cimd_6_fetch_failures_are_error_pages(
    dev: Browser, docs: DocServer, status: int, headers: dict[str, str], body: bytes,
    needle: str
) -> None:
    url = docs.put("/bad.json", body, status)
    docs.docs["/bad.json"].headers.update(headers)
    _, challenge = pkce()
    resp = await dev.authorize(dev.params(url, challenge))
    assert resp.status_code == 400
    assert "location" not in resp.headers
    assert needle in resp.text


@pytest.mark.parametrize("path", ["/", "/a/../c.json", "/./c.json", "/c.json#frag"])
async def test_cimd_3_client_id_url_shape(dev: Browser, docs: DocServer, path: str) -> None:
    _, challenge = pkce()
    resp = await dev.authorize(dev.params(docs.base + path, challenge))
    assert resp.status_code == 400
    assert "needs a host and a path" in resp.text


async def test_cimd_3_unparsable_client_id_url_is_a_page(dev: Browser) -> None:
    _, challenge = pkce()
    resp = await dev.authorize(dev.params("https://[::1/c.json", challenge))
    assert resp.status_code == 400
    assert "valid URL" in resp.text


async def test_cimd_6_outside_development_http_and_loopback_are_refused(
    tmp_path: Path, clock: FrozenClock, docs: DocServer
) -> None:
    async with browser(settings_for(tmp_path), clock) as b:
        _, challenge = pkce()
        plain = await b.authorize(b.params(docs.url("/c.json"), challenge))
        assert "must use https" in plain.text
        loopback = await b.authorize(b.params("https://127.0.0.1:1/c.json", challenge))
        assert loopback.status_code == 400
        assert "non-public address" in loopback.text
    assert docs.hits == {}


async def test_cimd_4_url_client_is_public_only(dev: Browser, docs: DocServer) -> None:
    url = docs.url("/c.json")
    docs.put("/c.json", document(url))
    resp = await dev.http.post("/oauth/token", data={"grant_type": "client_credentials",
                                                     "client_id": url})
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


async def test_cimd_default_scope_when_the_document_declares_none(
    dev: Browser, docs: DocServer
) -> None:
    """RFC 6749 §3.3: no scope anywhere -> the documented default (the catalog's scopes that
    need neither approval nor trust and are not internal), shown on the consent page."""
    url = docs.url("/c.json")
    docs.put("/c.json", {k: v for k, v in document(url).items() if k != "scope"})
    _, challenge = pkce()
    page = await dev.authorize(dev.params(url, challenge, scope=None))
    assert page.status_code == 200, page.text
    shown = dict(inputs(page.text))["scope"].split()
    assert "read:projects" in shown and "read:analytics" in shown
    assert not {"read:billing", "agent:autonomous-deploy", "gatepass:admin"} & set(shown)
    assert "default" in page.text
    ok = await dev.authorize(dev.params(url, challenge, scope="read:analytics"))
    assert ok.status_code == 200  # any catalog scope within the ceilings, with consent
    bad = await dev.authorize(dev.params(url, challenge, scope="delete:world"))
    assert query(bad.headers["location"])["error"] == "invalid_scope"


# --- the fetcher on its own ------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=3.0) as client:
        yield client


@pytest.mark.parametrize(("header", "age", "expected"), [
    (None, None, 60.0),
    ("max-age=300", None, 300.0),
    ("public, max-age=300", "100", 200.0),
    ("max-age=300", "400", 0.0),
    ("max-age=999999", None, 86_400.0),
    ("no-store", None, 0.0),
    ("max-age=300, no-cache", None, 0.0),
    ("private", None, 60.0),
    ("max-age=abc", None, 60.0),
])
def test_rfc9111_5_2_2_cache_lifetime(header: str | None, age: str | None,
                                      expected: float) -> None:
    assert cache_lifetime(header, age, default=60.0, maximum=86_400.0) == expected


async def test_rfc9111_max_age_is_honoured_then_refetched(
    http: httpx.AsyncClient, docs: DocServer
) -> None:
    ticks = Ticks()
    fetch = CimdFetcher(http, development=True, monotonic=ticks)
    url = docs.put("/c.json", {"client_id": "x"}, cache_control="max-age=120")
    assert await fetch(url) == {"client_id": "x"}
    ticks.now += 119
    await fetch(url)
    assert docs.hits["/c.json"] == 1
    ticks.now += 2
    await fetch(url)
    assert docs.hits["/c.json"] == 2


async def test_rfc9111_no_store_is_never_cached_and_ttl_is_capped(
    http: httpx.AsyncClient, docs: DocServer
) -> None:
    ticks = Ticks()
    fetch = CimdFetcher(http, development=True, monotonic=ticks, max_ttl=600)
    never = docs.put("/n.json", {}, cache_control="no-store")
    await fetch(never)
    await fetch(never)
    assert docs.hits["/n.json"] == 2
    capped = docs.put("/y.json", {}, cache_control="max-age=31536000")
    await fetch(capped)
    ticks.now += 601
    await fetch(capped)
    assert docs.hits["/y.json"] == 2


async def test_cimd_6_fetcher_refuses_unsafe_urls_before_connecting(
    http: httpx.AsyncClient, docs: DocServer
) -> None:
    fetch = CimdFetcher(http, development=False)
    with pytest.raises(UnsafeUrl, match="https"):
        await fetch(docs.url("/c.json"))
    with pytest.raises(UnsafeUrl, match="non-public"):
        await fetch("https://127.0.0.1:1/c.json")
    assert docs.hits == {}


async def test_cimd_6_fetcher_timeout_and_connection_errors(docs: DocServer) -> None:
    url = docs.put("/slow.json", {})
    docs.docs["/slow.json"].delay = 1.0
    async with httpx.AsyncClient(timeout=0.2) as client:
        fetch = CimdFetcher(client, development=True)
        with pytest.raises(CimdFetchError, match="ReadTimeout"):
            await fetch(url)
        with pytest.raises(CimdFetchError, match="ConnectError"):
            await fetch("http://127.0.0.1:1/c.json")


async def test_cimd_6_declared_length_over_the_cap_is_refused_unread(
    http: httpx.AsyncClient, docs: DocServer
) -> None:
    fetch = CimdFetcher(http, development=True, max_bytes=100)
    url = docs.put("/big.json", {"pad": "x" * 200})
    with pytest.raises(CimdFetchError, match="larger than 100 bytes"):
        await fetch(url)
