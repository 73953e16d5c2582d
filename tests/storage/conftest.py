"""Backends for the storage contract suite: memory, SQLite, PostgreSQL and (tokens only) Redis.

``stores`` runs a test on every full backend; ``token_stores`` adds Redis for the revocation and
replay contracts. SQL backends start from an empty, migrated schema; Redis from a key prefix of
the test's own, deleted afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gatepass.storage.base import ReplayCache, RevocationStore, Stores
from gatepass.storage.memory import open_memory_stores
from gatepass.storage.sql.migrate import upgrade
from gatepass.storage.sql.stores import open_sql_stores
from gatepass.storage.sql.tables import metadata

FULL_BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TOKEN_BACKENDS = [*FULL_BACKENDS, pytest.param("redis", marks=pytest.mark.redis)]


def _empty_postgres(url: str) -> str:
    import psycopg

    names = ", ".join(t.name for t in metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return url


def _backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """'memory', or the URL of an empty migrated SQL database, or the Redis URL."""
    name: str = request.param
    if name == "sqlite":
        url = f"sqlite:///{tmp_path / 'gatepass.db'}"
        upgrade(url)
        return url
    if name == "postgres":
        return _empty_postgres(request.getfixturevalue("postgres_url"))
    if name == "redis":
        return str(request.getfixturevalue("redis_url"))
    return name


@pytest.fixture(params=FULL_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _backend_url(request, tmp_path)


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[Stores]:
    opened = open_memory_stores() if store_url == "memory" else await open_sql_stores(store_url)
    yield opened
    await opened.close()


@dataclass(frozen=True)
class TokenStores:
    revocations: RevocationStore
    replay: ReplayCache


@pytest.fixture(params=TOKEN_BACKENDS)
def token_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _backend_url(request, tmp_path)


@pytest.fixture
async def token_stores(token_url: str) -> AsyncIterator[TokenStores]:
    async with _open_token_stores(token_url) as opened:
        yield opened


@asynccontextmanager
async def _open_token_stores(url: str) -> AsyncIterator[TokenStores]:
    if not url.startswith("redis"):
        full = open_memory_stores() if url == "memory" else await open_sql_stores(url)
        try:
            yield TokenStores(full.revocations, full.replay)
        finally:
            await full.close()
        return

    from redis.asyncio import Redis

    from gatepass.storage.redis import RedisReplayCache, RedisRevocationStore

    prefix = f"gatepass_t_{secrets.token_hex(6)}:"
    client = Redis.from_url(url)
    try:
        revocations = RedisRevocationStore(client, prefix=prefix)
        yield TokenStores(revocations, RedisReplayCache(client, prefix=prefix))
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
