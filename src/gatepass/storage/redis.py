"""Redis backend for the state instances share: the revocation list and the replay cache.

Keys live under a prefix (default ``gatepass:``) and expire with the token they guard (absolute
PXAT expiry, judged by the Redis server's clock). Each revocation is also published as JSON
``{"jti": ..., "exp": ...}`` on ``<prefix>revocations`` so that other instances and resource
servers can update their deny-lists; a client cutoff (the kill switch: every token of the client
with an earlier ``iat`` is revoked) as ``{"client_id": ..., "revoked_before": ..., "exp": ...}``
on the same channel. Client changes (cache invalidation between instances) go to
``<prefix>clients``. Needs the ``redis`` extra.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import cast

try:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the Redis backend needs the extra: pip install 'gatepass[redis]'") from exc

from gatepass.storage.base import StorageError

__all__ = [
    "CLIENTS_CHANNEL",
    "REVOCATIONS_CHANNEL",
    "RedisClientChanges",
    "RedisReplayCache",
    "RedisRevocationStore",
    "cutoff_message",
    "publish_cutoff",
    "publish_revocation",
]

REVOCATIONS_CHANNEL = "gatepass:revocations"
CLIENTS_CHANNEL = "gatepass:clients"
log = logging.getLogger("gatepass.storage")

# Keep the later cutoff: SET only when there is none or it is earlier; index it by expiry.
_CUTOFF_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


def _revocation_message(jti: str, expires_at: float) -> str:
    return json.dumps({"jti": jti, "exp": expires_at}, separators=(",", ":"))


def cutoff_message(client_id: str, before: float, expires_at: float) -> str:
    """The revocation-channel message of a client cutoff."""
    return json.dumps({"client_id": client_id, "revoked_before": before, "exp": expires_at},
                      separators=(",", ":"))


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


async def publish_cutoff(
    redis: Redis, client_id: str, before: float, expires_at: float, *,
    channel: str = REVOCATIONS_CHANNEL,
) -> None:
    """Tell subscribers that ``client_id``'s tokens issued before ``before`` are revoked."""
    async with _redis_errors():
        await redis.publish(channel, cutoff_message(client_id, before, expires_at))


class RedisRevocationStore:
    """A key per revoked jti (value: its expiry) plus sorted sets by revocation and expiry time."""

    def __init__(self, redis: Redis, *, prefix: str = "gatepass:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._by_revoked = f"{prefix}revocations:by_revoked_at"
        self._by_expiry = f"{prefix}revocations:by_expires_at"
        self._cutoffs = f"{prefix}cutoffs:by_expires_at"
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

    def _cutoff_key(self, client_id: str) -> str:
        return f"{self._prefix}cutoff:{client_id}"

    async def revoke_client(self, client_id: str, before: float, expires_at: float) -> None:
        """Record (keeping the later cutoff) and publish."""
        keys = [self._cutoff_key(client_id), self._cutoffs]
        args: list[str | int] = [repr(before), _pxat(expires_at), repr(expires_at), client_id]
        async with _redis_errors():
            await self._redis.eval(_CUTOFF_SCRIPT, len(keys), *keys, *args)
        await publish_cutoff(self._redis, client_id, before, expires_at, channel=self.channel)

    async def token_revoked(self, jti: str, client_id: str | None, issued_at: float | None) -> bool:
        async with _redis_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(self._key(jti))
            if client_id is not None:
                pipe.get(self._cutoff_key(client_id))
            found, *cut = await pipe.execute()
        if found:
            return True
        if not cut or cut[0] is None:
            return False
        return issued_at is None or issued_at < float(cut[0])

    async def client_cutoffs(self, now: float) -> list[tuple[str, float, float]]:
        async with _redis_errors():
            ids = _names(await self._redis.zrange(self._cutoffs, f"({now!r}", "+inf", byscore=True))
            if not ids:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for client_id in ids:
                    pipe.get(self._cutoff_key(client_id))
                pipe.zmscore(self._cutoffs, ids)
                *befores, expiries = await pipe.execute()
        rows = zip(ids, befores, expiries, strict=True)
        return sorted((c, float(b), float(e)) for c, b, e in rows
                      if b is not None and e is not None)

    async def purge_expired(self, now: float) -> int:
        async with _redis_errors():
            jtis = _names(await self._redis.zrange(self._by_expiry, "-inf", now, byscore=True))
            cuts = _names(await self._redis.zrange(self._cutoffs, "-inf", now, byscore=True))
            removed = 0
            if jtis:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.zrem(self._by_expiry, *jtis)
                    pipe.zrem(self._by_revoked, *jtis)
                    pipe.delete(*(self._key(jti) for jti in jtis))
                    removed, *_ = await pipe.execute()
            if cuts:  # the keys expire by themselves (PXAT)
                removed += await self._redis.zrem(self._cutoffs, *cuts)
        return int(removed)


class RedisClientChanges:
    """``ClientChanges`` over pub/sub: instant, but a message sent while a subscriber is
    reconnecting is lost (pair it with the SQL change log, which the runtime does)."""

    def __init__(self, redis: Redis, *, channel: str = CLIENTS_CHANNEL,
                 retry_delay: float = 1.0) -> None:
        self._redis = redis
        self.channel = channel
        self._retry_delay = retry_delay

    async def publish(self, client_id: str) -> None:
        async with _redis_errors():
            await self._redis.publish(self.channel, client_id)

    async def listen(self, changed: Callable[[str], None]) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    while True:  # short reads: the client's socket timeout stays in force
                        message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                           timeout=0.5)
                        if message is not None and message.get("type") == "message":
                            data = message["data"]
                            changed(data.decode() if isinstance(data, bytes) else str(data))
            except (RedisError, OSError) as exc:
                log.warning("client change channel failed: %s", type(exc).__name__)
                await asyncio.sleep(self._retry_delay)


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
