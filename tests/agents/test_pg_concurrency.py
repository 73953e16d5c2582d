"""50 concurrent agent registrations on the real PostgreSQL: 50 distinct working clients.

Also: ten agents racing for one single-use billing token get exactly one registration.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.conftest import fresh_postgres_database

from gatepass.storage.sql.migrate import upgrade_async

from .conftest import REGISTER, Harness, agent_settings, running

pytestmark = pytest.mark.postgres
N = 50


@pytest.fixture
async def hp(tmp_path: Path) -> AsyncIterator[Harness]:
    """A fresh, migrated PostgreSQL database of its own (dropped afterwards)."""
    with fresh_postgres_database("gatepass_agents_") as url:
        await upgrade_async(url)
        async with running(agent_settings(tmp_path, database_url=url)) as h:
            yield h


async def test_50_concurrent_registrations_are_50_working_clients(hp: Harness) -> None:
    tokens = [await hp.billing_token() for _ in range(N)]
    bodies = [await hp.body(agent_name=f"agent-{i}", billing_token=tokens[i]) for i in range(N)]
    responses = await asyncio.gather(*(hp.client(f"198.51.100.{i + 1}").post(REGISTER, json=b)
                                       for i, b in enumerate(bodies)))
    assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses][:3]
    regs = [r.json() for r in responses]
    ids = {r["client_id"] for r in regs}
    assert len(ids) == N
    assert set(await hp.clients()) == ids  # none lost, none extra
    issued = await asyncio.gather(*(hp.token(r["client_id"], r["client_secret"]) for r in regs))
    assert [t.status_code for t in issued] == [200] * N
    for token in tokens:  # each prepaid token counted exactly once
        record = await hp.runtime.stores.billing.get_billing_token(
            hashlib.sha256(token.encode()).hexdigest())
        assert record is not None and record.uses == 1


async def test_single_use_billing_token_race_has_one_winner(hp: Harness) -> None:
    token = await hp.billing_token()
    bodies = [await hp.body(agent_name=f"racer-{i}", billing_token=token) for i in range(10)]
    responses = await asyncio.gather(*(hp.client(f"203.0.113.{i + 1}").post(REGISTER, json=b)
                                       for i, b in enumerate(bodies)))
    assert sorted(r.status_code for r in responses) == [201] + [402] * 9
    assert len(await hp.clients()) == 1
