"""Redis specifics beyond the shared contracts: revocation pub/sub and error wrapping."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gatepass.storage.base import StorageError
from gatepass.storage.redis import (
    REVOCATIONS_CHANNEL,
    RedisReplayCache,
    RedisRevocationStore,
    publish_revocation,
)

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"gatepass_t_{secrets.token_hex(6)}:"
    yield value
    keys = [k async for k in redis.scan_iter(match=f"{value}*")]
    if keys:
        await redis.delete(*keys)


async def _subscribed(redis: Redis, channel: str) -> PubSub:
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    confirmation = await pubsub.get_message(timeout=2)
    assert confirmation is not None and confirmation["type"] == "subscribe"
    return pubsub


async def _next_message(pubsub: PubSub) -> dict[str, Any]:
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert message is not None
    data: dict[str, Any] = json.loads(message["data"])
    return data


async def test_revoke_publishes_on_the_prefixed_channel(redis: Redis, prefix: str) -> None:
    store = RedisRevocationStore(redis, prefix=prefix)
    pubsub = await _subscribed(redis, f"{prefix}revocations")
    try:
        await store.revoke("jti-9", 1_900_000_000.5, revoked_at=time.time())
        assert await _next_message(pubsub) == {"jti": "jti-9", "exp": 1_900_000_000.5}
    finally:
        await pubsub.aclose()


async def test_publish_revocation_uses_the_default_channel(redis: Redis) -> None:
    pubsub = await _subscribed(redis, REVOCATIONS_CHANNEL)
    try:
        await publish_revocation(redis, "jti-1", 1_900_000_000.0)
        assert await _next_message(pubsub) == {"jti": "jti-1", "exp": 1_900_000_000.0}
    finally:
        await pubsub.aclose()


async def test_decoded_responses_work_too(redis: Redis, prefix: str) -> None:
    store, now = RedisRevocationStore(redis, prefix=prefix), time.time()
    await store.revoke("a", now + 60, revoked_at=now)
    assert await store.revoked_since(now) == [("a", now + 60)]
    assert await store.purge_expired(now + 61) == 1
    assert await RedisReplayCache(redis, prefix=prefix).add_once("k", now + 60)


async def test_unreachable_redis_raises_storage_error() -> None:
    no_retry = Retry(NoBackoff(), retries=0)
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, retry=no_retry)
    try:
        with pytest.raises(StorageError):
            await RedisReplayCache(client).add_once("k", time.time() + 60)
        with pytest.raises(StorageError):
            await RedisRevocationStore(client).revoke("j", time.time() + 60, time.time())
        with pytest.raises(StorageError):
            await publish_revocation(client, "j", time.time() + 60)
    finally:
        await client.aclose()
