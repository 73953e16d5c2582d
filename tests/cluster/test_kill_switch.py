"""Issue 16, item 1: the kill switch across instances, without the audit trail.

Two ``gatepass serve`` processes share one PostgreSQL database and Redis. One client asks each
of them for a token every 10 ms. ``gatepass agents suspend ID`` runs as a third process. Once
it has returned: no request sent after that gets a token, and 1 s later no token issued at any
time is accepted anywhere: introspection on both instances (as a resource server holding
``gatepass:introspect``), a ``gatepass.rs`` verifier fed by Redis pub/sub, one fed by the
revocation feed, and the demo API (``/api``) of both instances. Suspension revokes by cutoff
only (no ``jti`` is listed); the two verifiers here even ignore ``jti`` entries, so the cutoff
alone refuses every token. The figures are printed (``-s``
shows them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from dataclasses import dataclass

import httpx
import pytest

from gatepass.errors import OAuthError
from gatepass.rs import FeedRevocationChecker, RedisRevocationListener, TokenVerifier
from gatepass.rs.config import ResourceServerConfig

from ._cluster import CLI_TIMEOUT, GATEPASS, REDIS_URL, Cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
INTERVAL = 0.010
MAX_REQUESTS = 30_000  # per instance: the loop is bounded whatever happens
MAX_SECONDS = 300.0


class CutoffOnlyListener(RedisRevocationListener):
    def revoke(self, jti: str, exp: float) -> None:
        """``jti`` entries ignored: only client cutoffs count."""


class CutoffOnlyFeed(FeedRevocationChecker):
    def revoke(self, jti: str, exp: float) -> None:
        """``jti`` entries ignored: only client cutoffs count."""


@dataclass(frozen=True)
class Answer:
    instance: int
    sent: float  # wall-clock time the request was sent
    status: int
    token: str | None


async def _issue(http: httpx.AsyncClient, url: str, instance: int, auth: tuple[str, str],
                 stop: asyncio.Event, out: list[Answer]) -> None:
    deadline = time.monotonic() + MAX_SECONDS
    for _ in range(MAX_REQUESTS):
        if stop.is_set() or time.monotonic() > deadline:
            return
        sent = time.time()
        try:
            r = await http.post(url + "/oauth/token", auth=auth,
                                data={"grant_type": "client_credentials"})
            token = r.json().get("access_token") if r.status_code == 200 else None
            out.append(Answer(instance, sent, r.status_code, token))
        except httpx.TransportError:
            out.append(Answer(instance, sent, 0, None))
        await asyncio.sleep(INTERVAL)


async def _suspend(cluster: Cluster, client_id: str) -> tuple[float, float, str]:
    """Run the CLI; wall-clock times it started and returned, and its output."""
    started = time.time()
    proc = await asyncio.create_subprocess_exec(
        str(GATEPASS), "agents", "suspend", client_id, "--reason", "kill switch test",
        cwd=cluster.cwd, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    async with asyncio.timeout(CLI_TIMEOUT):
        output, _ = await proc.communicate()
    returned = time.time()
    assert proc.returncode == 0, output.decode()
    return started, returned, output.decode()


def _jti(token: str | None) -> str:
    payload = (token or "..").split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


def _verifier(cluster: Cluster, revocation: object) -> TokenVerifier:
    config = ResourceServerConfig(issuer=cluster.issuer, resource=cluster.issuer,
                                  jwks_uri=cluster.issuer + "/.well-known/jwks.json")
    return TokenVerifier(config, revocation=revocation)  # type: ignore[arg-type]


async def _accepted_by(verifier: TokenVerifier, tokens: list[str]) -> int:
    accepted = 0
    for token in tokens:
        try:
            await verifier.verify(token)
            accepted += 1
        except OAuthError:
            pass
    return accepted


async def test_suspension_through_the_cli_stops_every_token_everywhere(
        cluster: Cluster) -> None:
    client_id, secret = cluster.create_client("busy-agent", "read:projects")
    rs_id, rs_secret = cluster.create_client("resource-server", "gatepass:introspect")
    listener = _verifier(cluster, CutoffOnlyListener(REDIS_URL))
    feed = _verifier(cluster, CutoffOnlyFeed(cluster.issuer, interval=0.25, client_id=rs_id,
                                             client_secret=rs_secret))
    await listener.start()
    await feed.start()
    answers: list[Answer] = []
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(timeout=10.0) as http:
            loops = [asyncio.create_task(_issue(http, url, i, (client_id, secret), stop, answers))
                     for i, url in enumerate(cluster.urls)]
            await asyncio.sleep(1.5)  # tokens flow from both instances
            early = [a.token for a in answers if a.token]
            # warm the verifiers' caches with live tokens: a cached token must be refused too
            assert await _accepted_by(listener, early[-20:]) == len(early[-20:])
            assert await _accepted_by(feed, early[-20:]) == len(early[-20:])
            started, returned, output = await _suspend(cluster, client_id)
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*loops)

            issued = [a for a in answers if a.status == 200 and a.token]
            before = [a for a in issued if a.sent < returned]
            after = [a for a in issued if a.sent >= returned]
            refused_after = [a for a in answers if a.sent >= returned and a.status != 200]
            tokens = [a.token for a in issued if a.token]
            gate = asyncio.Semaphore(8)

            async def active(url: str, token: str) -> bool:
                async with gate:
                    r = await http.post(url + "/oauth/introspect", auth=(rs_id, rs_secret),
                                        data={"token": token})
                assert r.status_code == 200, r.text
                return bool(r.json()["active"])

            introspected = {i: sum(await asyncio.gather(*(active(url, t) for t in tokens)))
                            for i, url in enumerate(cluster.urls)}
            by_listener = await _accepted_by(listener, tokens)
            by_feed = await _accepted_by(feed, tokens)
            listed = {e["jti"] for e in (await http.get(
                cluster.issuer + "/oauth/revocations", params={"limit": "1000"},
                auth=(rs_id, rs_secret))).json()["revoked"]}
            jti_listed = sum(1 for a in issued if _jti(a.token) in listed)
            api: dict[int, dict[int, int]] = {}
            for i, url in enumerate(cluster.urls):
                counts: dict[int, int] = {}
                for token in tokens[-50:]:  # the newest ones, within the demo's rate limit
                    r = await http.get(url + "/api/projects",
                                       headers={"Authorization": f"Bearer {token}"})
                    counts[r.status_code] = counts.get(r.status_code, 0) + 1
                api[i] = counts
    finally:
        await listener.stop()
        await feed.stop()

    per_instance = {i: sum(1 for a in issued if a.instance == i) for i in (0, 1)}
    print(f"\nsuspend took {returned - started:.2f}s: {output.strip()}"
          f"\ntokens issued: {len(issued)} {per_instance}, requests sent before return that got"
          f" one: {len(before)}, sent after return that got one: {len(after)}"
          f" (refused after return: {len(refused_after)})"
          f"\naccepted 1 s later: introspection {introspected}, rs listener {by_listener},"
          f" rs feed {by_feed}, demo /api (status: count, newest 50) {api}"
          f"\njti entries in the feed for these tokens: {jti_listed}")
    assert all(per_instance.values()), per_instance  # both instances issued
    assert len(before) > 100
    assert refused_after, "no request was sent after the command returned"
    assert after == []
    assert jti_listed == 0  # the cutoff alone did it
    assert introspected == {0: 0, 1: 0}
    assert by_listener == 0
    assert by_feed == 0
    assert all(set(c) == {401} for c in api.values()), api
