"""Redis backend for the state instances share: the revocation list and the replay cache.

Keys live under a prefix (default ``gatepass:``) and expire with the token they guard (absolute
PXAT expiry, judged by the Redis server's clock). Each revocation is also published as JSON
``{"jti": ..., "exp": ...}`` on ``<prefix>revocations`` so that other instances and resource
servers can update their deny-lists. Needs the ``redis`` extra.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

try:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the Redis backend needs the extra: pip install 'gatepass[redis]'") from exc

from gatepass.storage.base import StorageError

__all__ = [
    "REVOCATIONS_CHANNEL",
    "RedisReplayCache",
    "RedisRevocationStore",
    "publish_revocation",
]

REVOCATIONS_CHANNEL = "gatepass:revocations"


def _revocation_message(jti: str, expires_at: float) -> str:
    return json.dumps({"jti": jti, "exp": expires_at}, separators=(",", ":"))


def _pxat(expires_at: float) -> int:
    """Absolute expiry in ms; Redis refuses values below 1 (a past time expires the key)."""
    return max(1, int(expires_at * 1000))


def _names(members: object) -> list[str]:
    """Members of a plain ZRANGE reply, as text whether or not the client decodes responses."""
    raw = cast("list[bytes | str]", members)
    return [m.decode() if isinstance(m, bytes) else m for m in raw]


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StorageError(f"redis unavailable: {type(exc).__name__}") from exc


async def publish_revocation(
    redis: Redis, jti: str, expires_at: float, *, channel: str = REVOCATIONS_CHANNEL
) -> None:
    """Tell subscribers that ``jti`` is revoked until ``expires_at``."""
    async with _redis_errors():
        await redis.publish(channel, _revocation_message(jti, expires_at))


class RedisRevocationStore:
    """A key per revoked jti (value: its expiry) plus sorted sets by revocation and expiry time."""

    def __init__(self, redis: Redis, *, prefix: str = "gatepass:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._by_revoked = f"{prefix}revocations:by_revoked_at"
        self._by_expiry = f"{prefix}revocations:by_expires_at"
        self.channel = f"{prefix}revocations"

    def _key(self, jti: str) -> str:
        return f"{self._prefix}revoked:{jti}"

    async def revoke(self, jti: str, expires_at: float, revoked_at: float) -> None:
        """Record and publish in one MULTI; a repeat keeps the first ``revoked_at``."""
        async with _redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(jti), repr(expires_at), pxat=_pxat(expires_at))
            pipe.zadd(self._by_revoked, {jti: revoked_at}, nx=True)
            pipe.zadd(self._by_expiry, {jti: expires_at}, nx=True)
            pipe.publish(self.channel, _revocation_message(jti, expires_at))
            await pipe.execute()

    async def is_revoked(self, jti: str) -> bool:
        async with _redis_errors():
            return bool(await self._redis.exists(self._key(jti)))

    async def revoked_since(self, since: float) -> list[tuple[str, float]]:
        async with _redis_errors():
            jtis = _names(await self._redis.zrange(self._by_revoked, since, "+inf", byscore=True))
            if not jtis:
                return []
            expiries = await self._redis.zmscore(self._by_expiry, jtis)
        return [
            (jti, float(exp)) for jti, exp in zip(jtis, expiries, strict=True) if exp is not None
        ]

    async def revoked_page(
        self, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[str, float, float]]:
        """Members with equal scores come in lexicographic order, so (score, member) is the
        (revoked_at, jti) order; ties with ``after``'s score are skipped batch by batch."""
        found: list[tuple[str, float]] = []
        offset = 0
        async with _redis_errors():
            while len(found) < limit:
                batch = await self._redis.zrange(
                    self._by_revoked, after[0] if after else "-inf", "+inf", byscore=True,
                    withscores=True, offset=offset, num=limit)
                pairs = cast("list[tuple[bytes | str, float]]", batch)
                for jti, at in zip(_names([m for m, _ in pairs]), (s for _, s in pairs),
                                   strict=True):
                    if after is None or (float(at), jti) > after:
                        found.append((jti, float(at)))
                if len(batch) < limit:
                    break
                offset += len(batch)
            found = found[:limit]
            if not found:
                return []
            expiries = await self._redis.zmscore(self._by_expiry, [j for j, _ in found])
        return [(jti, float(exp), at)
                for (jti, at), exp in zip(found, expiries, strict=True) if exp is not None]

    async def purge_expired(self, now: float) -> int:
        async with _redis_errors():
            jtis = _names(await self._redis.zrange(self._by_expiry, "-inf", now, byscore=True))
            if not jtis:
                return 0
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(self._by_expiry, *jtis)
                pipe.zrem(self._by_revoked, *jtis)
                pipe.delete(*(self._key(jti) for jti in jtis))
                removed, *_ = await pipe.execute()
        return int(removed)


class RedisReplayCache:
    """``SET NX PXAT``: the first writer wins until the entry expires on the server."""

    def __init__(self, redis: Redis, *, prefix: str = "gatepass:") -> None:
        self._redis = redis
        self._prefix = f"{prefix}replay:"

    async def add_once(self, key: str, expires_at: float) -> bool:
        async with _redis_errors():
            added = await self._redis.set(self._prefix + key, b"1", nx=True, pxat=_pxat(expires_at))
        return bool(added)

    async def purge_expired(self, now: float) -> int:
        """A no-op: Redis drops each entry itself at its PXAT expiry. Always 0."""
        return 0
