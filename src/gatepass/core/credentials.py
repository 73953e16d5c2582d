"""Client secrets: ≥256-bit random, URL-safe, prefixed, stored only as HMAC-SHA256 with a pepper."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["SECRET_PREFIX", "SecretHasher", "new_client_id", "new_secret"]

SECRET_PREFIX = "gps_"
_DUMMY = "gps_" + "A" * 43


def new_secret() -> str:
    """A fresh client secret: ``gps_`` + 256 random bits, base64url."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_client_id(prefix: str = "client_") -> str:
    """A server-chosen client identifier (clients never choose their own, RFC 9700 §4.15)."""
    return prefix + secrets.token_hex(12)


class SecretHasher:
    """Keyed digests of secrets and constant-time comparison."""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 16:
            raise ValueError("the secret pepper must be at least 16 bytes")
        self._pepper = pepper

    def digest(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(secret), digest)

    def burn(self) -> None:
        """Spend the same work as a real check (for unknown clients, against timing probes)."""
        self.digest(_DUMMY)
