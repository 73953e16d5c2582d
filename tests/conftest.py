"""Shared fixtures for the real services CI starts (``scripts/services.sh``); never mocks.

- ``postgres_url``: a fresh, uniquely named PostgreSQL database for this test session, already
  migrated to head, dropped at the end. Plain ``postgresql://`` URL (psycopg and
  ``open_sql_stores`` both accept it).
- ``redis_url``: the Redis server. Isolate your keys with a unique prefix and delete them.

Override the servers with ``GATEPASS_TEST_POSTGRES`` (an admin URL to an existing database) and
``GATEPASS_TEST_REDIS``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "GATEPASS_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("GATEPASS_TEST_REDIS", "redis://127.0.0.1:6379/0")


@contextmanager
def fresh_postgres_database(prefix: str = "gatepass_t_") -> Iterator[str]:
    """Create an empty database with a unique name; drop it (forcefully) on exit."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this session's own."""
    from gatepass.storage.sql.migrate import upgrade

    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL
