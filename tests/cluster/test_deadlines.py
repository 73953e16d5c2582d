"""A locked ``clients`` table (``LOCK TABLE clients`` held by another session) on a PostgreSQL
server of this test's own: token and introspection requests are answered 503
``temporarily_unavailable`` with ``Retry-After`` instead of waiting for the lock, once by the
request deadline and once by the statement timeout; after the lock goes they work again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from ._pg_kit import free_port, own_postgres, postgres_bin, serve_env, serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries"),
]


@pytest.fixture(scope="module")
def server_admin() -> Iterator[str]:
    with own_postgres() as admin:
        yield admin


@pytest.fixture
def database(server_admin: str) -> str:
    """A fresh database on the test's own server (each deployment its own keys)."""
    name = f"gatepass_{secrets.token_hex(4)}"
    with psycopg.connect(server_admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_admin.rsplit("/", 1)[0] + f"/{name}"


def _answer(http: httpx.Client, url: str, path: str, auth: tuple[str, str],
            **form: str) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    answer = http.post(url + path, data=form, auth=auth)
    return answer, time.monotonic() - began


@pytest.mark.parametrize(("cut_by", "settings"), [
    ("request deadline", {"request_deadline": "2", "database_timeout": "60"}),
    ("statement timeout", {"request_deadline": "60", "database_timeout": "1"}),
])
def test_a_locked_table_answers_503_in_time(database: str, tmp_path: Path, cut_by: str,
                                            settings: dict[str, str]) -> None:
    env = serve_env(database, None, f"http://127.0.0.1:{free_port()}", demo_client="false",
                    agents__free_tier="agent_standard", client_cache_ttl="0", **settings)
    with serving(env, tmp_path, 1) as [server], httpx.Client(timeout=120) as http:
        reg = http.post(server.url + "/api/v1/agents/register", json={
            "agent_name": f"locked-{cut_by}", "agent_type": "autonomous", "tos_accepted": True,
            "requested_scopes": ["read:projects"]}).json()
        auth = (reg["client_id"], reg["client_secret"])
        granted, _ = _answer(http, server.url, "/oauth/token", auth,
                             grant_type="client_credentials")
        assert granted.status_code == 200, granted.text
        token = granted.json()["access_token"]
        with psycopg.connect(database) as locker:
            locker.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")  # held until rollback
            refused = [
                _answer(http, server.url, "/oauth/token", auth, grant_type="client_credentials"),
                _answer(http, server.url, "/oauth/introspect", auth, token=token),
            ]
            locker.rollback()
        print(f"\nlocked table, cut by the {cut_by}: " + ", ".join(
            f"{a.status_code} in {s:.1f}s" for a, s in refused))
        for answer, _ in refused:
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "temporarily_unavailable"
            assert answer.headers["retry-after"].isdigit()
            assert answer.headers["content-type"].startswith("application/json")
        again, _ = _answer(http, server.url, "/oauth/introspect", auth, token=token)
        assert again.status_code == 200 and again.json()["active"] is True
