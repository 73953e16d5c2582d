"""Fetching a client's ``jwks_uri`` (RFC 7523 §3 keys): SSRF guard, no redirects, caps, cache."""

from __future__ import annotations

import httpx
import pytest

from gatepass.http.fetch import (
    MAX_BYTES,
    PublicUrl,
    SafeJwksFetcher,
    UnsafeUrl,
    check_public_url,
)

JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "k"}]}
PUBLIC = "https://93.184.216.34/jwks.json"  # an IP literal: no DNS needed


@pytest.mark.parametrize("url", [
    "http://93.184.216.34/jwks.json",          # not https
    "https://127.0.0.1/jwks.json",            # loopback
    "https://localhost/jwks.json",            # resolves to loopback
    "https://10.1.2.3/jwks.json",             # private
    "https://169.254.169.254/latest/",        # link-local (cloud metadata)
    "https://[::1]/jwks.json",                # IPv6 loopback
    "https://user:pw@93.184.216.34/jwks",     # credentials
    "https:///nohost",                        # no host
    "file:///etc/passwd",
])
async def test_rfc7523_s3_jwks_uri_must_be_public_https(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_public_url(url, development=False)


async def test_rfc7523_s3_development_allows_http_loopback_only() -> None:
    await check_public_url("http://127.0.0.1:8080/jwks.json", development=True)
    with pytest.raises(UnsafeUrl):
        await check_public_url("http://10.1.2.3/jwks.json", development=True)


async def test_rfc7523_s3_public_address_is_allowed() -> None:
    await check_public_url(PUBLIC, development=False)


def fetcher_with(handler, calls: list[httpx.Request]) -> tuple[SafeJwksFetcher, httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    def record(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return handler(request)  # type: ignore[no-any-return]

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return SafeJwksFetcher(client, development=False), client


async def test_rfc7523_s3_fetches_and_caches_the_jwks() -> None:
    calls: list[httpx.Request] = []
    fetch, client = fetcher_with(lambda r: httpx.Response(200, json=JWKS), calls)
    async with client:
        assert await fetch(PUBLIC) == JWKS
        assert await fetch(PUBLIC) == JWKS
    assert len(calls) == 1


@pytest.mark.parametrize(("response", "message"), [
    (httpx.Response(302, headers={"Location": "https://127.0.0.1/"}), "answered 302"),
    (httpx.Response(404), "answered 404"),
    (httpx.Response(200, json=[1, 2]), "did not return a JWKS"),
    (httpx.Response(200, json={"keys": "nope"}), "did not return a JWKS"),
    (httpx.Response(200, content=b'{"keys": [' + b'{},' * MAX_BYTES + b"{}]}"), "too large"),
])
async def test_rfc7523_s3_bad_jwks_uri_answers_are_refused(response: httpx.Response,
                                                           message: str) -> None:
    calls: list[httpx.Request] = []
    fetch, client = fetcher_with(lambda r: response, calls)
    async with client:
        with pytest.raises(UnsafeUrl, match=message):
            await fetch(PUBLIC)
    assert len(calls) == 1  # no redirect followed


async def test_rfc7523_s3_private_jwks_uri_is_not_even_requested() -> None:
    calls: list[httpx.Request] = []
    fetch, client = fetcher_with(lambda r: httpx.Response(200, json=JWKS), calls)
    async with client:
        with pytest.raises(UnsafeUrl):
            await fetch("https://127.0.0.1/jwks.json")
    assert calls == []


async def test_rfc7523_s3_refresh_refetches_once_per_cooldown() -> None:
    calls: list[httpx.Request] = []
    now = [1000.0]
    client = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda r: calls.append(r) or httpx.Response(200, json=JWKS)))  # type: ignore[func-returns-value]
    fetch = SafeJwksFetcher(client, development=False, ttl=300, refresh_cooldown=30,
                            monotonic=lambda: now[0])
    async with client:
        await fetch(PUBLIC)
        await fetch(PUBLIC, refresh=True)  # a key the cached document lacks: fetch again
        assert len(calls) == 2
        now[0] += 29
        await fetch(PUBLIC, refresh=True)  # within the cooldown: the cache answers
        await fetch(PUBLIC)
        assert len(calls) == 2
        now[0] += 2
        await fetch(PUBLIC, refresh=True)
        assert len(calls) == 3
        now[0] += 301  # the cached copy is stale: fetched again, refresh or not
        await fetch(PUBLIC)
        assert len(calls) == 4


@pytest.mark.parametrize(("url", "address", "sent"), [
    ("https://jwks.example:8443/k.json?v=1", "2606:4700::1111",
     "https://[2606:4700::1111]:8443/k.json?v=1"),
    ("https://jwks.example/k.json", "93.184.216.34", "https://93.184.216.34/k.json"),
])
async def test_a_checked_url_is_fetched_from_its_address_under_its_name(
        url: str, address: str, sent: str) -> None:
    seen: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda r: seen.append(r) or httpx.Response(200, json=JWKS)))  # type: ignore[func-returns-value]
    async with client, PublicUrl(url, address).stream(client, {"Accept": "application/json"}):
        pass
    (request,) = seen
    assert str(request.url) == sent
    assert request.headers["host"] == url.split("/")[2]
    assert request.headers["connection"] == "close"
    assert request.headers["accept"] == "application/json"
    assert request.extensions["sni_hostname"] == "jwks.example"
