"""Run the Alembic migrations shipped in the package; no ``alembic.ini`` is needed.

``upgrade`` and ``current_revision`` are synchronous (for the CLI and tests): they run the async
engine on their own event loop, in a worker thread when the caller already has a loop running.
``upgrade_async`` is for code that is already async (an app lifespan).

On PostgreSQL, processes starting together take turns: a migration runs under a transaction
advisory lock (the next one then finds the schema at head), and ``advisory_lock`` serialises
first-start provisioning (the signing key, the demo client) the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gatepass.storage.base import StorageError
from gatepass.storage.sql.engine import async_url, create_engine

__all__ = [
    "MIGRATIONS_DIR",
    "START_LOCK",
    "advisory_lock",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade",
    "upgrade_async",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

T = TypeVar("T")
# pg_advisory_lock keys (bigint): b"gatepass" and b"gp-start" read as integers.
MIGRATION_LOCK = int.from_bytes(b"gatepass", "big") >> 1
START_LOCK = int.from_bytes(b"gp-start", "big") >> 1


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped scripts, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of Gatepass."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration scripts found")
    return head


async def _on_connection(url: str, work: Callable[[Connection], T]) -> T:
    engine = create_engine(url, statement_timeout=None)  # a migration may take its time
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"migration failed: {exc}") from exc
    finally:
        await engine.dispose()


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``, in one transaction where supported."""

    def work(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":  # held until this transaction ends
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), revision)

    await _on_connection(url, work)


@asynccontextmanager
async def advisory_lock(url: str, key: int = START_LOCK) -> AsyncIterator[None]:
    """Hold a PostgreSQL session advisory lock on ``key`` for the block: other processes
    entering it for the same database wait their turn. A no-op on other databases (SQLite
    writers already take turns; memory is one process)."""
    if make_url(url).get_backend_name() != "postgresql":
        yield
        return
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        connection = await engine.connect()
        await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        await connection.commit()
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        raise StorageError(f"could not take the start lock: {type(exc).__name__}") from exc
    try:
        yield
    finally:
        await connection.close()  # ends the session: PostgreSQL releases its advisory locks
        await engine.dispose()


def _read_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (``sqlite:///...`` or ``postgresql://...``); idempotent."""
    _run(upgrade_async(url, revision))


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None if it was never migrated."""
    return _run(_on_connection(url, _read_revision))
