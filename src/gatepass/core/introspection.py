"""Token introspection (RFC 7662 §2).

A token is active when this server signed it with a published key, it has not expired and it is
not revoked. A caller sees the claims of tokens issued to itself; a client holding the
``gatepass:introspect`` scope (a resource server) sees any token. Everything else is
``{"active": false}`` (§2.2: no hint why).
"""

from __future__ import annotations

from typing import Any

from gatepass.clock import Clock
from gatepass.core.directory import ClientEntry
from gatepass.keys import Keyring
from gatepass.storage.base import RevocationStore

__all__ = ["INTROSPECT_SCOPE", "Introspector"]

INTROSPECT_SCOPE = "gatepass:introspect"
INACTIVE: dict[str, Any] = {"active": False}


class Introspector:
    """Answers RFC 7662 requests for this server's JWT access tokens."""

    def __init__(self, revocations: RevocationStore, clock: Clock) -> None:
        self._revocations = revocations
        self._clock = clock

    async def introspect(self, caller: ClientEntry, keyring: Keyring, token: str) -> dict[str, Any]:
        claims = keyring.verify(token)
        if claims is None:
            return dict(INACTIVE)
        if claims.get("exp", 0) <= self._clock.now():
            return dict(INACTIVE)
        allowed = (
            claims.get("client_id") == caller.client.client_id
            or INTROSPECT_SCOPE in caller.client.allowed_scopes
        )
        if not allowed:
            return dict(INACTIVE)
        if await self._revocations.is_revoked(str(claims.get("jti"))):
            return dict(INACTIVE)
        return {"active": True, "token_type": "Bearer", **claims}
