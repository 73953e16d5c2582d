"""Token revocation (RFC 7009 §2).

Our access tokens are JWTs: revoking one records its ``jti`` until its ``exp``. Only the client
the token was issued to may revoke it (§2.1). Unknown or invalid tokens get 200 (§2.2). A
storage failure propagates (the shell answers 503), never a silent 200.
"""

from __future__ import annotations

from gatepass.clock import Clock
from gatepass.core.directory import ClientEntry
from gatepass.errors import UnauthorizedClient
from gatepass.keys import Keyring
from gatepass.storage.base import RevocationStore

__all__ = ["Revoker"]


class Revoker:
    """Revokes this server's access tokens."""

    def __init__(self, revocations: RevocationStore, clock: Clock) -> None:
        self._revocations = revocations
        self._clock = clock

    async def revoke(self, caller: ClientEntry, keyring: Keyring, token: str) -> str | None:
        """Revoke ``token``; returns its jti, or None when there was nothing to revoke."""
        claims = keyring.verify(token)
        now = self._clock.now()
        if claims is None or not isinstance(claims.get("jti"), str):
            return None
        exp = float(claims.get("exp", 0))
        if exp <= now:
            return None
        if claims.get("client_id") != caller.client.client_id:
            raise UnauthorizedClient("The token was not issued to this client")
        jti: str = claims["jti"]
        await self._revocations.revoke(jti, exp, now)
        return jti
