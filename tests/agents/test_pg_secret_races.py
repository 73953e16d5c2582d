"""Racing secret rotations and drops over HTTP on the real PostgreSQL (one transaction each,
the client row locked): the client keeps the newest secret plus at most one in grace, and is
never left without a secret.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import fresh_postgres_database

from gatepass.storage.sql.migrate import upgrade_async

from .conftest import Harness, agent_settings, bearer, running

pytestmark = pytest.mark.postgres
SECRETS = "/api/v1/agents/me/secrets"


@pytest.fixture
async def hp(tmp_path: Path) -> AsyncIterator[Harness]:
    with fresh_postgres_database("gatepass_secrets_") as url:
        await upgrade_async(url)
        settings = agent_settings(tmp_path, database_url=url,
                                  agents={"secret_rotation_grace": 600})
        async with running(settings) as h:
            yield h


async def test_twenty_concurrent_rotations_leave_the_newest_plus_one_in_grace(
        hp: Harness) -> None:
    reg = await hp.registered()
    auth = bearer(reg["registration_access_token"])
    answers = await asyncio.gather(*(hp.http.post(SECRETS, headers=auth) for _ in range(20)))
    assert [a.status_code for a in answers] == [201] * 20, answers[0].text
    stored = await hp.runtime.stores.clients.list_secrets(reg["client_id"])
    print(f"\n20 concurrent rotations: {len(stored)} secrets left")
    assert len(stored) == 2
    [newest] = [s for s in stored if s.expires_at is None]  # the last rotation to commit
    assert [s.expires_at is None for s in stored].count(False) == 1  # one in grace
    issued = {a.json()["secret_id"]: a.json()["client_secret"] for a in answers}
    assert newest.secret_id in issued  # one of the rotations' secrets, and it works
    token = await hp.token(reg["client_id"], issued[newest.secret_id])
    assert token.status_code == 200, token.text
    assert (await hp.token(reg["client_id"], reg["client_secret"])).status_code == 401


async def test_twenty_one_concurrent_drops_keep_one_secret(hp: Harness) -> None:
    reg = await hp.registered()
    auth = bearer(reg["registration_access_token"])
    store = hp.runtime.stores.clients
    [first] = await store.list_secrets(reg["client_id"])
    for i in range(20):  # rotation keeps at most two: add twenty valid ones directly
        await store.add_secret(replace(first, secret_id=f"extra{i:02d}",
                                       created_at=first.created_at + i + 1))
    ids = [s.secret_id for s in await store.list_secrets(reg["client_id"])]
    assert len(ids) == 21
    answers = await asyncio.gather(*(hp.http.delete(f"{SECRETS}/{i}", headers=auth)
                                     for i in ids))
    counts = Counter(a.status_code for a in answers)
    print(f"\n21 concurrent DELETEs: {dict(counts)}")
    assert counts == {204: 20, 409: 1}
    [refused] = [a for a in answers if a.status_code == 409]
    assert refused.json() == {"error": "invalid_request",
                              "error_description": "Cannot drop the last secret; rotate first"}
    assert refused.headers["content-type"].startswith("application/json")
    assert len(await store.list_secrets(reg["client_id"])) == 1
