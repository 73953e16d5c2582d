"""Verified-token cache (RFC 9068 §4 results reused, RFC 6750 §5.3): a bounded LRU by SHA-256.

An entry maps the SHA-256 of a verified token to its ``Principal`` and lives until the token's
``exp`` (plus the leeway the full check would grant), or until it is evicted for size or dropped
on revocation. The raw token is never kept.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from gatepass.models import Principal

__all__ = ["TokenCache", "bearer_digest", "token_digest"]


def token_digest(token: str) -> bytes:
    """The cache key of a token: its SHA-256 digest."""
    return hashlib.sha256(token.encode("ascii")).digest()


def bearer_digest(header: bytes) -> bytes:
    """``token_digest`` of the token in an ASCII ``Bearer <token>`` value, without copying it."""
    return hashlib.sha256(memoryview(header)[7:]).digest()


class TokenCache:
    """A least-recently-used map of token digest -> ``Principal``; size 0 disables it."""

    def __init__(self, max_entries: int, *, leeway: float) -> None:
        self._max = max_entries
        self._leeway = leeway
        self._entries: OrderedDict[bytes, Principal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: float) -> Principal | None:
        """The cached ``Principal`` while its token is unexpired; an expired entry is dropped."""
        principal = self._entries.get(digest)
        if principal is None:
            return None
        if now >= principal.expires_at + self._leeway:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return principal

    def put(self, digest: bytes, principal: Principal) -> None:
        """Remember a verified token, evicting the least recently used entry when full."""
        if self._max <= 0:
            return
        self._entries[digest] = principal
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        """Forget a token (for example because it was revoked)."""
        self._entries.pop(digest, None)
