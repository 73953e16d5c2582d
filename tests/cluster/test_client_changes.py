"""Issue 16: client changes reach the other instance at once, not after ``client_cache_ttl``.

Two ``gatepass serve`` processes share one PostgreSQL database, with the client cache set to
10 minutes; instance B has the client cached (it just issued a token). The CLI, a third process,
rotates the secret with no grace (the old one is dropped), demotes the client (a scope it held
needs a higher trust level), disables and re-enables it. 1 s after each command returns, B
answers with the new state. Run with Redis (pub/sub) and without (the SQL change log, polled).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ._cluster import Cluster, fresh_postgres_database, start_cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(params=["redis", "sql-poll"])
def cached_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    env = {"GATEPASS_CLIENT_CACHE_TTL": "600"}
    if request.param == "sql-poll":
        env["GATEPASS_REDIS_URL"] = ""
    else:
        request.applymarker(pytest.mark.redis)
    with fresh_postgres_database("gatepass_cluster_") as url:
        yield from start_cluster(tmp_path, url, extra_env=env)


def _token(url: str, client: tuple[str, str], scope: str = "read:projects") -> httpx.Response:
    return httpx.post(url + "/oauth/token", auth=client, timeout=10.0,
                      data={"grant_type": "client_credentials", "scope": scope})


def _after_a_second() -> None:
    time.sleep(1.0)  # the stated bound; the cache alone would keep the old state for 600 s


def test_changes_made_by_the_cli_reach_the_other_instance(cached_cluster: Cluster) -> None:
    c = cached_cluster
    a, b = c.urls
    cid, old = c.create_client("cached", "read:projects read:analytics")
    for url in (a, b):  # both instances cache the client
        assert _token(url, (cid, old), "read:projects read:analytics").status_code == 200

    new = json.loads(c.cli("clients", "rotate-secret", cid, "--grace", "0", "--json").stdout)[
        "client_secret"]
    _after_a_second()
    for url in (b, a):
        refused = _token(url, (cid, old))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert _token(url, (cid, new)).status_code == 200

    c.cli("agents", "promote", cid, "--level", "0")  # read:analytics needs trust level 1
    _after_a_second()
    refused = _token(b, (cid, new), "read:analytics")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    assert _token(b, (cid, new), "read:projects").status_code == 200

    c.cli("clients", "disable", cid)
    _after_a_second()
    refused = _token(b, (cid, new))
    assert refused.status_code in (400, 401), refused.text
    assert refused.json()["error"] in ("invalid_client", "unauthorized_client")
    c.cli("clients", "enable", cid)
    _after_a_second()
    assert _token(b, (cid, new)).status_code == 200
