"""Three ``gatepass serve`` processes started together on a fresh PostgreSQL database: every one
starts, and they leave one schema (at head), one current signing key and at most one demo client.

Migration runs under a transaction advisory lock and first-start provisioning (the signing key,
the demo client) under a session advisory lock, so the processes take turns instead of racing
(before: one died in the migration with ``UniqueViolation``; two current keys, two demo clients).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from tests.conftest import fresh_postgres_database

from gatepass.cli.serve import DEMO_NAME
from gatepass.storage.sql.migrate import head_revision

from ._pg_kit import free_port, serve_env, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PROCESSES = 3


@pytest.mark.parametrize("trial", [1, 2])
def test_three_servers_starting_together_share_one_setup(tmp_path: Path, trial: int) -> None:
    with fresh_postgres_database("gatepass_start_") as url:
        env = serve_env(url, None, f"http://127.0.0.1:{free_port()}", demo_client="true")
        with serving(env, tmp_path, PROCESSES) as servers:  # each healthy, none died
            assert all(s.proc is not None and s.proc.poll() is None for s in servers)
            printed = sum(s.text().count("Demo client created") for s in servers)
        with psycopg.connect(url) as conn:
            versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
            states = Counter(r[0] for r in conn.execute("SELECT state FROM signing_keys"))
            demos = conn.execute("SELECT count(*) FROM clients WHERE name = %s",
                                 (DEMO_NAME,)).fetchone()
    print(f"\ntrial {trial}: {PROCESSES} servers started; schema {versions}, keys "
          f"{dict(states)}, demo clients {demos[0] if demos else None}")
    assert versions == [head_revision()]
    assert states == {"current": 1}
    assert demos is not None and demos[0] <= 1
    assert printed == demos[0]  # the one that created it showed its secret; no other did


async def test_runtimes_opening_together_on_a_migrated_database_make_one_key_and_demo(
        tmp_path: Path) -> None:
    """The provisioning race alone (schema already there): five runtimes at once."""
    from gatepass.cli.serve import _first_start
    from gatepass.runtime import open_runtime
    from gatepass.settings import Settings
    from gatepass.storage.sql.migrate import upgrade_async

    with fresh_postgres_database("gatepass_start_") as url:
        await upgrade_async(url)
        settings = Settings(database_url=url, data_dir=tmp_path, development=True,
                            key_encryption_keys=[Fernet.generate_key().decode()],
                            secret_pepper=os.urandom(24).hex())
        runtimes = await asyncio.gather(*(open_runtime(settings, migrate=False)
                                          for _ in range(5)))
        try:
            created = await asyncio.gather(*(_first_start(rt) for rt in runtimes))
        finally:
            for rt in runtimes:
                await rt.close()
        with psycopg.connect(url) as conn:
            states = Counter(r[0] for r in conn.execute("SELECT state FROM signing_keys"))
            demos = [r[0] for r in conn.execute("SELECT client_id FROM clients")]
    assert states == {"current": 1}
    assert [c.created.client.client_id for c in created if c is not None] == demos
    assert len(demos) == 1
