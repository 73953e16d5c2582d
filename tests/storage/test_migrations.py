"""Shipped Alembic migrations: idempotent upgrade, head revision, schema equal to ``tables``."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import gatepass
from gatepass.storage.sql.engine import create_engine
from gatepass.storage.sql.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade
from gatepass.storage.sql.tables import metadata


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def _schema_diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff)
    finally:
        await engine.dispose()


def test_sqlite_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert current_revision(url) is None
    upgrade(url)
    upgrade(url)
    assert current_revision(url) == head_revision() == "0004"


async def test_sqlite_schema_matches_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)  # called from a running event loop: runs in a worker thread
    assert await _schema_diff(url) == []


@pytest.mark.postgres
async def test_postgres_upgrade_again_and_schema_matches(postgres_url: str) -> None:
    upgrade(postgres_url)
    assert current_revision(postgres_url) == head_revision()
    assert await _schema_diff(postgres_url) == []


def test_migration_scripts_ship_inside_the_package() -> None:
    assert MIGRATIONS_DIR.is_relative_to(Path(gatepass.__path__[0]))
    assert {p.name for p in MIGRATIONS_DIR.iterdir()} >= {"env.py", "script.py.mako", "versions"}
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
