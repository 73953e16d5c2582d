"""Issue 13 item 4: failed client authentication is throttled per (client_id, source) and per
source at the token, introspection and revocation endpoints (429, ``Retry-After``, a JSON
``error``/``error_description``), without locking the client out from its own addresses.

Over real HTTP on 127.0.0.1; the sources are ``X-Forwarded-For`` addresses set through a
trusted proxy (127.0.0.1), as behind a load balancer. The last test runs two servers sharing
their counters through Redis.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from security.gp_secnet import Live, live_server

TOKEN = {"grant_type": "client_credentials"}
PROXIED = {"trusted_proxies": ["127.0.0.1/32"]}


def source(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def token(live: Live, auth: tuple[str, str], address: str) -> httpx.Response:
    return await live.http.post("/oauth/token", data=TOKEN, auth=auth, headers=source(address))


def assert_throttled(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, Any] = answer.json()
    assert body["error"] == "rate_limit_exceeded"
    assert body["error_description"].startswith(
        "Too many failed client authentications from this address; retry after ")
    assert body["retry_after"] == int(answer.headers["retry-after"])


async def test_wrong_secrets_for_a_victim_throttle_the_guesser_not_the_victim(
        tmp_path: Path) -> None:
    async with live_server(tmp_path, auth_failures_per_client_per_minute=10,
                           agents=PROXIED) as live:
        victim, secret = await live.secret_client()
        guesses = [await token(live, (victim, f"guess-{i}"), "203.0.113.66") for i in range(12)]
        assert [g.status_code for g in guesses[:10]] == [401] * 10
        assert guesses[0].json()["error"] == "invalid_client"
        assert_throttled(guesses[10])
        assert_throttled(guesses[11])
        # the guesser's address is blocked for this client even with the right secret ...
        assert_throttled(await token(live, (victim, secret), "203.0.113.66"))
        # ... the victim, from its own address, is not
        ok = await token(live, (victim, secret), "198.51.100.20")
        assert ok.status_code == 200, ok.text
        # and the guesser's other clients are not blocked by the per-client count
        own, own_secret = await live.secret_client()
        assert (await token(live, (own, own_secret), "203.0.113.66")).status_code == 200
        # every 429 is audited, with the address it was counted against
        await live.rt.server.audit.flush()
        refusals = [e for e in await live.rt.stores.audit.recent(1000, None)
                    if e.event == "rate_limit.refused"]
        assert len(refusals) == 3
        assert all(e.details["endpoint"] == "auth_failure" and e.details["path"] == "/oauth/token"
                   and e.details["address"] == "203.0.113.66" for e in refusals)


async def test_failures_over_many_client_ids_throttle_the_source(tmp_path: Path) -> None:
    async with live_server(tmp_path, auth_failures_per_ip_per_minute=15,
                           agents=PROXIED) as live:
        cid, secret = await live.secret_client()
        answers = [await token(live, (f"client_{i}", "x"), "203.0.113.77") for i in range(16)]
        assert [a.status_code for a in answers[:15]] == [401] * 15
        assert_throttled(answers[15])
        assert_throttled(await token(live, (cid, secret), "203.0.113.77"))
        assert (await token(live, (cid, secret), "203.0.113.78")).status_code == 200


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
async def test_introspection_and_revocation_are_throttled_too(tmp_path: Path,
                                                              path: str) -> None:
    async with live_server(tmp_path, auth_failures_per_client_per_minute=5,
                           agents=PROXIED) as live:
        cid, secret = await live.secret_client()
        form = {"token": "anything"}
        answers = [await live.http.post(path, data=form, auth=(cid, "wrong"),
                                        headers=source("203.0.113.88")) for _ in range(6)]
        assert [a.status_code for a in answers[:5]] == [401] * 5
        assert answers[0].json()["error"] == "invalid_client"
        assert_throttled(answers[5])
        ok = await live.http.post(path, data=form, auth=(cid, secret),
                                  headers=source("198.51.100.21"))
        assert ok.status_code == 200, ok.text


async def test_successful_requests_are_never_throttled(tmp_path: Path) -> None:
    async with live_server(tmp_path, auth_failures_per_client_per_minute=2,
                           auth_failures_per_ip_per_minute=2, agents=PROXIED) as live:
        cid, secret = await live.secret_client()
        for _ in range(20):
            assert (await token(live, (cid, secret), "203.0.113.99")).status_code == 200
        # one failure is below the limits: the next success still passes
        assert (await token(live, (cid, "wrong"), "203.0.113.99")).status_code == 401
        assert (await token(live, (cid, secret), "203.0.113.99")).status_code == 200


@pytest.mark.redis
async def test_two_servers_share_the_failure_count_through_redis(tmp_path: Path,
                                                                 redis_url: str) -> None:
    """Failures at one server count at the other: 10 there and 5 here reach the limit of 15."""
    address = f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    settings: dict[str, Any] = {"redis_url": redis_url, "auth_failures_per_ip_per_minute": 15,
                                "agents": PROXIED}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with live_server(tmp_path / "a", **settings) as first, \
            live_server(tmp_path / "b", **settings) as second:
        for i in range(10):
            assert (await token(first, (f"c{i}", "x"), address)).status_code == 401
        for i in range(5):
            assert (await token(second, (f"d{i}", "x"), address)).status_code == 401
        assert_throttled(await token(second, ("d5", "x"), address))
        cid, secret = await second.secret_client()
        assert_throttled(await token(second, (cid, secret), address))
        assert (await token(second, (cid, secret), "198.18.251.1")).status_code == 200
