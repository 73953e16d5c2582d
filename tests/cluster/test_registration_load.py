"""500 concurrent agent registrations across two ``gatepass serve`` instances on PostgreSQL and
Redis: each answer is 201 or 429 (back-pressure), never 503, and every 201 is a stored client
that gets a token.

The registration limiter's Redis pool is bounded and blocking: a request that finds every
connection busy waits, then is refused on its own (429, ``Retry-After``). The old pool raised
when full, which tripped the breaker and turned every registration into a 503.
The per-address and per-account budgets are raised (the free tier needs no billing token) so
that only load decides; their odd values keep this test's counters apart from any other's.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.conftest import fresh_postgres_database

from gatepass.storage.sql.migrate import upgrade

from ._pg_kit import free_port, serve_env, serving

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

REGISTRATIONS = 500
REGISTER = "/api/v1/agents/register"
DEADLINE = 240.0  # the whole burst, on a loaded 2-core machine


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_postgres_database("gatepass_load_") as url:
        upgrade(url)
        yield url


async def _register(http: httpx.AsyncClient, url: str, name: str) -> httpx.Response:
    body = {"agent_name": name, "agent_type": "autonomous", "tos_accepted": True,
            "requested_scopes": ["read:projects"]}
    return await http.post(url + REGISTER, json=body)


async def _token(http: httpx.AsyncClient, url: str, client_id: str, secret: str,
                 gate: asyncio.Semaphore) -> int:
    async with gate:
        answer = await http.post(url + "/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client_id, secret))
    return answer.status_code


async def test_500_concurrent_registrations_are_201_or_429(
        database: str, redis_url: str, tmp_path: Path) -> None:
    budget = str(9000 + secrets.randbelow(900))
    env = serve_env(database, redis_url, f"http://127.0.0.1:{free_port()}",
                    agents__free_tier="agent_standard", demo_client="false",
                    agents__registrations_per_ip_per_hour=budget,
                    agents__registrations_per_account_per_day=budget)
    with serving(env, tmp_path, 2) as servers:
        limits = httpx.Limits(max_connections=REGISTRATIONS, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=DEADLINE, limits=limits) as http:
            run = secrets.token_hex(4)
            async with asyncio.timeout(DEADLINE):
                answers = await asyncio.gather(*(
                    _register(http, servers[i % 2].url, f"load-{run}-{i}")
                    for i in range(REGISTRATIONS)))
            counts = Counter(a.status_code for a in answers)
            why = Counter(a.json()["error_description"] for a in answers if a.status_code == 429)
            print(f"\n500 concurrent registrations on 2 instances: {dict(sorted(counts.items()))}"
                  f"; refusals: {dict(why)}")
            assert set(counts) <= {201, 429}, [a.text for a in answers
                                               if a.status_code not in (201, 429)][:3]
            assert counts[201] + counts[429] == REGISTRATIONS
            for refused in (a for a in answers if a.status_code == 429):
                assert refused.headers["retry-after"].isdigit()
                assert refused.json()["error"] == "rate_limit_exceeded"
            created = [(i, a.json()) for i, a in enumerate(answers) if a.status_code == 201]
            gate = asyncio.Semaphore(50)
            async with asyncio.timeout(DEADLINE):
                tokens = await asyncio.gather(*(
                    _token(http, servers[i % 2].url, c["client_id"], c["client_secret"], gate)
                    for i, c in created))
    with psycopg.connect(database) as conn:
        stored = {r[0] for r in conn.execute(
            "SELECT client_id FROM clients WHERE name LIKE %s", (f"load-{run}-%",))}
    print(f"stored clients: {len(stored)}; token answers: {dict(Counter(tokens))}")
    assert stored == {c["client_id"] for _, c in created}
    assert tokens == [200] * len(created)
