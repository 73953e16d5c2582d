"""SQL engine setup (URL mapping, SQLite pragmas) and driver errors wrapped as StorageError."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from gatepass.models import Client
from gatepass.storage.base import StorageError
from gatepass.storage.sql.engine import async_url, create_engine
from gatepass.storage.sql.stores import open_sql_stores


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ],
)
def test_async_url_picks_the_async_driver(given: str, driver: str) -> None:
    assert async_url(given).drivername == driver


async def test_sqlite_pragmas_are_set_on_connect(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as conn:
            pragmas = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
    finally:
        await engine.dispose()
    assert pragmas == ["wal", 5000, 1]


async def test_unmigrated_database_raises_storage_error(tmp_path: Path) -> None:
    stores = await open_sql_stores(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StorageError):
            await stores.clients.get_client("x")
    finally:
        await stores.close()


async def test_unreachable_postgres_raises_storage_error() -> None:
    stores = await open_sql_stores("postgresql://root@127.0.0.1:1/nothing?connect_timeout=2")
    try:
        with pytest.raises(StorageError) as caught:
            await stores.clients.create_client(Client("c", "C", 0.0))
        assert type(caught.value) is StorageError
    finally:
        await stores.close()
