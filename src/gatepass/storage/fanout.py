"""A revocation store that also pushes each revocation to subscribers (DESIGN §3, redis).

The durable record stays in the primary store (SQL); the push over Redis pub/sub is what lets
resource servers refuse a revoked token within their stated bound. A failed push is logged and
does not fail the revocation: pulling resource servers still see it in the revocation feed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gatepass.storage.base import RevocationStore, StorageError

__all__ = ["PublishingRevocationStore"]

log = logging.getLogger("gatepass.storage")
Publisher = Callable[[str, float], Awaitable[None]]


class PublishingRevocationStore:
    """``RevocationStore`` that records in ``inner`` first, then publishes."""

    def __init__(self, inner: RevocationStore, publish: Publisher) -> None:
        self._inner = inner
        self._publish = publish

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

    async def purge_expired(self, now: float) -> int:
        return await self._inner.purge_expired(now)
