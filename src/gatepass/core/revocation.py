"""Token revocation (RFC 7009 §2).

Our access tokens are JWTs: revoking one records its ``jti`` until its ``exp``. Only the client
the token was issued to may revoke it (§2.1). Unknown or invalid tokens get 200 (§2.2). A
storage failure propagates (the shell answers 503), never a silent 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatepass.clock import Clock
from gatepass.core.directory import ClientEntry
from gatepass.errors import UnauthorizedClient
from gatepass.keys import Keyring
from gatepass.storage.base import RevocationStore

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = ["Revoker", "revoke_grant_tokens", "revoke_outstanding"]


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


async def revoke_outstanding(server: AuthorizationServer, client_id: str, *, actor: str) -> int:
    """Revoke every unexpired token issued to a client (found through the audit trail of
    issuance, which records each ``jti`` and ``exp``). Returns how many were revoked."""
    await server.audit.flush()
    now = server.clock.now()
    since = now - server.config.access_token_ttl
    revoked = 0
    for ev in await server.stores.audit.find(client_id, "token.issued", since):
        jti, exp = ev.details.get("jti"), ev.details.get("exp")
        if isinstance(jti, str) and isinstance(exp, int | float) and exp > now:
            await server.stores.revocations.revoke(jti, float(exp), now)
            revoked += 1
    server.audit.emit("client.tokens_revoked", "success", client_id=client_id, actor=actor,
                      count=revoked)
    return revoked


async def revoke_grant_tokens(
    server: AuthorizationServer, client_id: str, grant_id: str, *, actor: str
) -> int:
    """Revoke every unexpired access token issued to ``client_id`` under one grant (its
    ``token.issued`` events carry the ``grant_id``). Returns how many were revoked."""
    await server.audit.flush()
    now = server.clock.now()
    since = now - server.config.access_token_ttl
    revoked = 0
    for ev in await server.stores.audit.find(client_id, "token.issued", since):
        jti, exp = ev.details.get("jti"), ev.details.get("exp")
        if (ev.details.get("grant_id") == grant_id and isinstance(jti, str)
                and isinstance(exp, int | float) and exp > now):
            await server.stores.revocations.revoke(jti, float(exp), now)
            revoked += 1
    server.audit.emit("grant.tokens_revoked", "success", client_id=client_id, actor=actor,
                      grant_id=grant_id, count=revoked)
    return revoked
