"""Async engine factory for SQLite (aiosqlite, the default) and PostgreSQL (psycopg 3).

Plain ``sqlite:///`` and ``postgresql://`` URLs are mapped to their async drivers. SQLite
connections get WAL, a busy timeout and foreign keys at connect time, and a new SQLite file is
created with mode 0600; PostgreSQL sessions get a statement timeout. Both are
``statement_timeout`` seconds (default 5): a locked table or a stuck query fails (a storage error:
503) instead of holding the request.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["async_url", "create_engine"]

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
}

STATEMENT_TIMEOUT = 5.0
POSTGRES_POOL: dict[str, Any] = {
    "pool_size": 10,
    "max_overflow": 20,
    "pool_timeout": 30,
    "pool_recycle": 1800,  # no pre-ping: it costs a round trip per checkout on the token path
}


def async_url(url: str | URL) -> URL:
    """``url`` with a plain ``sqlite``/``postgresql`` scheme switched to its async driver."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def _sqlite_on_connect(busy_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    return on_connect


def _create_private(database: str | None) -> None:
    """Create a new SQLite file with mode 0600 (its -wal and -shm files inherit the mode), so
    that client records, keys and audit trails are not readable by other local users."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with contextlib.suppress(OSError):  # exists already, or SQLite reports why it cannot open
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str | URL, *, statement_timeout: float | None = STATEMENT_TIMEOUT,
                  **kwargs: Any) -> AsyncEngine:
    """An ``AsyncEngine`` for ``url``; ``kwargs`` override the defaults given to SQLAlchemy.
    ``statement_timeout`` (seconds) bounds every statement (PostgreSQL) or lock wait (SQLite);
    None: no bound on PostgreSQL (migrations), the default busy timeout on SQLite."""
    target = async_url(url)
    backend = target.get_backend_name()
    ms = 0 if statement_timeout is None else max(1, round(statement_timeout * 1000))
    # JSON columns (audit details, scopes) are written on every audit flush: use orjson.
    kwargs = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads, **kwargs}
    if backend == "postgresql":
        connect_args = {"options": f"-c statement_timeout={ms}",
                        **kwargs.pop("connect_args", {})}
        kwargs = {**POSTGRES_POOL, **kwargs, "connect_args": connect_args}
    engine = create_async_engine(target, **kwargs)
    if backend == "sqlite":
        _create_private(target.database)
        busy = ms or round(STATEMENT_TIMEOUT * 1000)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect(busy))
    return engine
