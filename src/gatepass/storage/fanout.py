"""Stores that also push to subscribers (DESIGN §3, redis): revocations, client changes.

The durable record stays in the primary store (SQL); the push over Redis pub/sub is what lets
resource servers refuse a revoked token within their stated bound, and other instances drop a
changed client from their caches at once. A failed push is logged and does not fail the
operation: pulling resource servers still see it in the revocation feed, and instances in the
SQL change log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gatepass.storage.base import ClientChanges, RevocationStore, StorageError

__all__ = ["BroadcastClientChanges", "PublishingRevocationStore"]

log = logging.getLogger("gatepass.storage")
Publisher = Callable[[str, float], Awaitable[None]]
CutoffPublisher = Callable[[str, float, float], Awaitable[None]]


class PublishingRevocationStore:
    """``RevocationStore`` that records in ``inner`` first, then publishes (jtis and client
    cutoffs)."""

    def __init__(self, inner: RevocationStore, publish: Publisher,
                 publish_cutoff: CutoffPublisher | None = None) -> None:
        self._inner = inner
        self._publish = publish
        self._publish_cutoff = publish_cutoff

    async def revoke(self, jti: str, expires_at: float, revoked_at: float) -> None:
        await self._inner.revoke(jti, expires_at, revoked_at)
        try:
            await self._publish(jti, expires_at)
        except StorageError:
            log.warning("revocation recorded but not pushed (Redis unavailable)")

    async def is_revoked(self, jti: str) -> bool:
        return await self._inner.is_revoked(jti)

    async def revoked_since(self, since: float) -> list[tuple[str, float]]:
        return await self._inner.revoked_since(since)

    async def revoked_page(
        self, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[str, float, float]]:
        return await self._inner.revoked_page(after, limit)

    async def revoke_client(self, client_id: str, before: float, expires_at: float) -> None:
        await self._inner.revoke_client(client_id, before, expires_at)
        if self._publish_cutoff is None:
            return
        try:
            await self._publish_cutoff(client_id, before, expires_at)
        except StorageError:
            log.warning("client cutoff recorded but not pushed (Redis unavailable)")

    async def token_revoked(self, jti: str, client_id: str | None, issued_at: float | None) -> bool:
        return await self._inner.token_revoked(jti, client_id, issued_at)

    async def client_cutoffs(self, now: float) -> list[tuple[str, float, float]]:
        return await self._inner.client_cutoffs(now)

    async def purge_expired(self, now: float) -> int:
        return await self._inner.purge_expired(now)


class BroadcastClientChanges:
    """Publishes to every channel and listens to all of them: the first (durable, e.g. the SQL
    change log) must take the change, the others (fast, e.g. Redis) are best effort."""

    def __init__(self, durable: ClientChanges, *fast: ClientChanges) -> None:
        self._durable = durable
        self._fast = fast

    async def publish(self, client_id: str) -> None:
        await self._durable.publish(client_id)
        for channel in self._fast:
            try:
                await channel.publish(client_id)
            except StorageError:
                log.warning("client change recorded but not pushed (Redis unavailable)")

    async def listen(self, changed: Callable[[str], None]) -> None:
        async with asyncio.TaskGroup() as group:
            for channel in (self._durable, *self._fast):
                group.create_task(channel.listen(changed))
