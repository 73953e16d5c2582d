"""Issue 13 item 2: Client ID Metadata Document fetches can no longer be driven without limit
nor held open. Everything runs over real HTTP on 127.0.0.1: the authorization server under
uvicorn (development mode, so loopback URLs may be fetched) and raw loopback servers.

* A fetch has a total deadline: a server answering one byte a second is cut at it.
* CIMD, ``jwks_uri`` and the billing webhook each have a pool of their own, and fetches to one
  address are bounded: 110 slow metadata documents in flight do not stop a ``private_key_jwt``
  client with a ``jwks_uri`` from getting a token.
* A failing URL is not fetched again within the negative cache's lifetime (and is after it).
* Requests naming a URL ``client_id`` are limited per source at the token, introspection and
  revocation endpoints, as ``/oauth/authorize`` is: 429, ``Retry-After``, a JSON error body.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx

from gatepass.http.cimd_fetch import CimdFetcher, CimdFetchError
from gatepass.http.fetch import FetchLimits
from security.gp_secnet import (
    Gauge,
    RawServer,
    assertion_form,
    cimd_body,
    es256,
    jwks_body,
    live_server,
)

SAFETY = 60  # seconds: a hung fetch fails the test instead of hanging the run


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_server_sending_one_byte_a_second_is_cut_at_the_total_deadline() -> None:
    """Before: the 3 s timeout applied per read, so a byte a second kept the fetch open for as
    long as the server liked. Now the whole fetch ends at the deadline, the server still
    sending."""
    async with RawServer(slow=True) as slow, FetchLimits(deadline=2).client() as client:
        fetch = CimdFetcher(client, development=True, limits=FetchLimits(deadline=2))
        try:
            async with asyncio.timeout(SAFETY):
                await fetch(slow.url())
        except CimdFetchError as exc:
            assert str(exc) == "no complete answer within the 2 s deadline"
        else:
            raise AssertionError("the slow document was accepted")
        assert slow.requests == 1
        assert slow.sent >= 1  # it was answering, a byte at a time, and was cut off
        assert slow.finished == 0


async def test_a_fast_document_within_the_deadline_is_fetched() -> None:
    async with RawServer() as docs, FetchLimits(deadline=2).client() as client:
        url = docs.url()
        docs.body = cimd_body(url)
        fetch = CimdFetcher(client, development=True, limits=FetchLimits(deadline=2))
        assert (await fetch(url))["client_id"] == url


async def test_fetches_to_one_address_are_bounded_and_other_addresses_proceed() -> None:
    """Six slow documents on one address: two at a time reach it, the rest wait (and end at
    the deadline); meanwhile a document on another address is fetched at once."""
    limits = FetchLimits(deadline=5, per_host=2)
    gauge = Gauge()
    async with RawServer(host="127.0.0.2", slow=True, gauge=gauge) as slow, RawServer() as fine, \
            limits.client() as client:
        fetch = CimdFetcher(client, development=True, limits=limits)
        stuck = [asyncio.create_task(fetch(slow.url(f"/c/{i}"))) for i in range(6)]
        url = fine.url()
        fine.body = cimd_body(url)
        async with asyncio.timeout(SAFETY):
            await gauge.reach(2)
            assert (await fetch(url))["client_id"] == url
            assert (slow.open, slow.peak) == (2, 2)  # the other four are waiting for a slot
            failures = await asyncio.gather(*stuck, return_exceptions=True)
        assert all(isinstance(f, CimdFetchError) for f in failures)


async def test_slow_metadata_documents_do_not_starve_jwks_uri(tmp_path: Path) -> None:
    """The reproduction: 110 parallel revocations naming URL client ids whose hosts answer a
    byte a second (from 110 addresses behind a trusted proxy, so the per-source limit does not
    hide the pools), and meanwhile a ``private_key_jwt`` client whose keys are at a
    ``jwks_uri``. Before: one shared pool of 100 connections, all held by the slow hosts, and
    the jwks fetch timed out waiting for one (401). Now: 200, and every revocation ended at the
    deadline with a JSON ``invalid_client``."""
    key = es256()
    gauge = Gauge()
    hosts = [RawServer(host=f"127.0.0.{2 + i}", slow=True, gauge=gauge) for i in range(10)]
    async with live_server(tmp_path, jwks_fetch_timeout=3, fetch_per_host=4, fetch_pool_size=20,
                           agents={"trusted_proxies": ["127.0.0.1/32"]}) as live:
        for host in hosts:
            await host.__aenter__()
        try:
            async with RawServer(body=jwks_body(key)) as keys:
                client_id = await live.jwt_client(keys.url("/jwks.json"))

                async def revoke(i: int) -> httpx.Response:
                    url = hosts[i % len(hosts)].url(f"/client/{i}")
                    return await live.http.post(
                        "/oauth/revoke", data={"token": "x", "client_id": url},
                        headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})

                attack = [asyncio.create_task(revoke(i)) for i in range(110)]
                async with asyncio.timeout(SAFETY):
                    await gauge.reach(20)  # the CIMD pool is full
                    token = await live.http.post("/oauth/token", data={
                        "grant_type": "client_credentials", **assertion_form(client_id, key)})
                    assert token.status_code == 200, token.text
                    answers = await asyncio.gather(*attack)
                assert keys.requests == 1
        finally:
            for host in hosts:
                await host.__aexit__(None, None, None)
    assert {a.status_code for a in answers} == {401}
    bodies = [a.json() for a in answers]
    assert all(b["error"] == "invalid_client" for b in bodies)
    assert any("no complete answer within the 3 s deadline" in b["error_description"]
               for b in bodies)
    assert all(h.finished == 0 for h in hosts)


async def test_a_failing_url_is_not_fetched_again_within_the_negative_ttl(
        tmp_path: Path) -> None:
    async with RawServer(status=500, body=b"{}") as broken, \
            live_server(tmp_path, fetch_failure_ttl=600) as live:
        form = {"token": "x", "client_id": broken.url("/client.json")}
        first = await live.http.post("/oauth/revoke", data=form)
        second = await live.http.post("/oauth/revoke", data=form)
        assert broken.requests == 1
        for answer in (first, second):
            assert answer.status_code == 401
            assert answer.json()["error"] == "invalid_client"
        assert "it answered HTTP 500" in first.json()["error_description"]
        assert "it answered HTTP 500 (not fetched again for" in second.json()["error_description"]


async def test_a_failed_url_is_fetched_again_after_the_negative_ttl() -> None:
    ticks = Ticks()
    limits = FetchLimits(deadline=5, failure_ttl=30)
    async with RawServer(status=500, body=b"{}") as docs, limits.client() as client:
        fetch = CimdFetcher(client, development=True, limits=limits, monotonic=ticks)
        url = docs.url()
        for _ in range(3):
            with contextlib.suppress(CimdFetchError):
                await fetch(url)
        assert docs.requests == 1
        ticks.now += 31
        docs.status, docs.body = 200, cimd_body(url)
        assert (await fetch(url))["client_id"] == url  # fixed, and fetched again
        assert docs.requests == 2


async def test_concurrent_fetches_of_one_url_share_one_request() -> None:
    async with RawServer() as docs, FetchLimits().client() as client:
        url = docs.url()
        docs.body = cimd_body(url)
        fetch = CimdFetcher(client, development=True)
        docs_got = await asyncio.gather(*(fetch(url) for _ in range(20)))
        assert all(d["client_id"] == url for d in docs_got)
        assert docs.requests == 1


async def test_url_client_ids_are_limited_per_source_with_a_429(tmp_path: Path) -> None:
    """Past the budget (5 a minute here) one address gets 429 with ``Retry-After`` and a JSON
    error body, and nothing is fetched for it; another address, and requests that name a
    registered client, are not affected."""
    async with RawServer(status=404) as docs, \
            live_server(tmp_path, url_client_requests_per_ip_per_minute=5,
                        agents={"trusted_proxies": ["127.0.0.1/32"]}) as live:
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        answers = [await live.http.post("/oauth/revoke", headers=attacker, data={
            "token": "x", "client_id": docs.url(f"/c/{i}")}) for i in range(8)]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
        refused = answers[-1]
        assert int(refused.headers["retry-after"]) >= 1
        body = refused.json()
        assert body["error"] == "rate_limit_exceeded"
        assert body["error_description"].startswith(
            "Too many requests naming a URL client_id from this address")
        assert refused.headers["cache-control"] == "no-store"
        assert docs.requests == 5
        for path in ("/oauth/token", "/oauth/introspect"):
            limited = await live.http.post(path, headers=attacker, data={
                "grant_type": "authorization_code", "code": "x", "client_id": docs.url("/t")})
            assert limited.status_code == 429, path
        # someone else, naming a URL client id: served (here: the document is missing)
        other = await live.http.post("/oauth/revoke", data={
            "token": "x", "client_id": docs.url("/c/other")},
            headers={"X-Forwarded-For": "203.0.113.8"})
        assert other.status_code == 401
        # the same address with a registered client: not limited
        cid, secret = await live.secret_client()
        ok = await live.http.post("/oauth/token", headers=attacker, auth=(cid, secret),
                                  data={"grant_type": "client_credentials"})
        assert ok.status_code == 200, ok.text
        assert docs.requests == 6


async def test_authorize_is_limited_per_source_with_a_429(tmp_path: Path) -> None:
    """``/oauth/authorize`` (which fetches metadata documents too) keeps its per-address
    budget: 10 a second, 60 a minute."""
    async with live_server(tmp_path, agents={"trusted_proxies": ["127.0.0.1/32"]}) as live:
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        statuses = []
        for i in range(61):
            answer = await live.http.get("/oauth/authorize", headers=attacker,
                                         params={"client_id": f"http://127.0.0.1:1/c/{i}"})
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        refused = answer
        assert refused.status_code == 429
        assert 429 not in statuses[:10]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"] == "rate_limit_exceeded"
        assert refused.json()["error_description"]
        other = await live.http.get("/oauth/authorize",
                                    headers={"X-Forwarded-For": "203.0.113.10"},
                                    params={"client_id": "http://127.0.0.1:1/c/x"})
        assert other.status_code != 429
