"""Issue 13 item 3 with issue 16 item 4: replaying a registration body never takes over the
existing client. A repeat within the dedup window is 409 ``invalid_client_metadata`` naming the
existing ``client_id``, with no secret and no registration access token; the first holder's
credentials keep working. 50 identical concurrent registrations on PostgreSQL, against one
real server and against two ``gatepass serve`` processes, create exactly one client."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from tests.agents.conftest import REGISTER, Harness, agent_settings, basic, running
from tests.conftest import fresh_postgres_database
from tests.e2e.serving import _wait_healthy, stop

import gatepass
from gatepass.clock import FrozenClock
from gatepass.core.billing import issue_billing_token
from gatepass.storage.sql.migrate import upgrade_async
from gatepass.storage.sql.stores import open_sql_stores

N = 50
DCR = "/oauth/register"
SRC = str(Path(gatepass.__file__).parents[1])


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def h(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Harness]:
    async with running(agent_settings(tmp_path), clock) as harness:
        yield harness


async def test_replayed_agent_registration_does_not_take_over(h: Harness,
                                                              clock: FrozenClock) -> None:
    body = await h.body(billing_token=await h.billing_token(max_uses=None))
    first = await h.http.post(REGISTER, json=body)
    assert first.status_code == 201, first.text
    mine = first.json()
    replay = await h.http.post(REGISTER, json=body)
    assert replay.status_code == 409, replay.text
    answer = replay.json()
    assert answer["error"] == "invalid_client_metadata" and answer["error_description"]
    assert answer["client_id"] == mine["client_id"]
    assert not {"client_secret", "registration_access_token"} & set(answer)
    assert replay.headers["cache-control"] == "no-store"
    assert (await h.token(mine["client_id"], mine["client_secret"])).status_code == 200
    me = await h.http.get("/api/v1/agents/me", headers={
        "Authorization": f"Bearer {mine['registration_access_token']}"})
    assert me.status_code == 200  # the registration access token still works too
    assert len(await h.clients()) == 1
    # after the dedup window the same body is a new registration; the first client is untouched
    clock.advance(h.runtime.server.config.agents.dedup_window + 1)
    later = await h.http.post(REGISTER, json=body)
    assert later.status_code == 201, later.text
    assert later.json()["client_id"] != mine["client_id"]
    assert (await h.token(mine["client_id"], mine["client_secret"])).status_code == 200
    again = await h.http.post(REGISTER, json=body)
    assert again.status_code == 409 and again.json()["client_id"] == later.json()["client_id"]


async def test_replayed_rfc7591_registration_does_not_take_over(h: Harness) -> None:
    body = {"client_name": "mcp", "scope": "read:projects"}
    token = await h.billing_token(max_uses=None)
    headers = {"Authorization": f"Bearer {token}"}
    first = await h.http.post(DCR, json=body, headers=headers)
    assert first.status_code == 201, first.text
    replay = await h.http.post(DCR, json=body, headers=headers)
    assert replay.status_code == 409
    assert replay.json()["client_id"] == first.json()["client_id"]
    assert "client_secret" not in replay.json()
    ok = await h.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=basic(first.json()["client_id"], first.json()["client_secret"]))
    assert ok.status_code == 200
    changed = await h.http.post(DCR, json={**body, "client_name": "mcp-2"}, headers=headers)
    assert changed.status_code == 201  # a different registration is a new client


# --- 50 identical concurrent registrations on PostgreSQL -----------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(url: str, issuer: str, kek: str, pepper: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    return env | {
        "PYTHONPATH": SRC, "GATEPASS_ISSUER": issuer, "GATEPASS_DATABASE_URL": url,
        "GATEPASS_DEVELOPMENT": "true", "GATEPASS_DEMO_CLIENT": "false",
        "GATEPASS_DEMO_API": "false", "GATEPASS_KEY_ENCRYPTION_KEYS": f'["{kek}"]',
        "GATEPASS_SECRET_PEPPER": pepper,
        "GATEPASS_AGENTS__REGISTRATIONS_PER_IP_PER_HOUR": "1000"}


@contextmanager
def _serve(cwd: Path, url: str, kek: str, pepper: str) -> Iterator[str]:
    """One ``gatepass serve`` process on ``url``; its issuer once healthy; always stopped."""
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from gatepass.cli import main; main()", "serve", "--port",
             str(port)], cwd=cwd,
            env=_env(url, issuer, kek, pepper), stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(issuer, proc, log)
            yield issuer
        finally:
            stop(proc)


async def _race(issuers: list[str], body: dict[str, Any]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_connections=N)) as http:
        return await asyncio.gather(*(http.post(issuers[i % len(issuers)] + REGISTER, json=body)
                                      for i in range(N)))


async def _one_client(url: str, issuers: list[str]) -> None:
    stores = await open_sql_stores(url)
    try:
        token, _ = await issue_billing_token(stores.billing, FrozenClock(), tier="agent_standard",
                                             max_uses=None)
        body = {"agent_name": "racer", "tos_accepted": True, "billing_token": token,
                "requested_scopes": ["read:projects"]}
        responses = await _race(issuers, body)
        codes = sorted(r.status_code for r in responses)
        assert codes == [201] + [409] * (N - 1), [r.text for r in responses if
                                                  r.status_code not in (201, 409)][:3]
        [winner] = [r.json() for r in responses if r.status_code == 201]
        assert {r.json()["client_id"] for r in responses} == {winner["client_id"]}
        assert not any("client_secret" in r.json() for r in responses if r.status_code == 409)
        assert [c.client_id for c in await stores.clients.list_clients()] == [
            winner["client_id"]]
        async with httpx.AsyncClient(timeout=30.0) as http:
            for issuer in issuers:  # the one secret works on every instance
                ok = await http.post(issuer + "/oauth/token", data={
                    "grant_type": "client_credentials"},
                    headers=basic(winner["client_id"], winner["client_secret"]))
                assert ok.status_code == 200, ok.text
    finally:
        await stores.close()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("instances", [1, 2])
async def test_50_identical_concurrent_registrations_make_one_client(tmp_path: Path,
                                                                     instances: int) -> None:
    kek, pepper = Fernet.generate_key().decode(), os.urandom(16).hex()
    with fresh_postgres_database("gatepass_replay_") as url:
        await upgrade_async(url)
        with _serve(tmp_path, url, kek, pepper) as first:
            if instances == 1:
                await _one_client(url, [first])
            else:
                with _serve(tmp_path, url, kek, pepper) as second:
                    await _one_client(url, [first, second])
