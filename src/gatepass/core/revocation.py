"""Token revocation (RFC 7009 §2).

Access tokens are JWTs: revoking one records its ``jti`` until its ``exp``. Refresh tokens are
looked up by digest: revoking one revokes its whole grant, the grant's other refresh tokens and
(as §2.1 allows: "MAY revoke ... access tokens based on the same authorization grant") every
access token issued under it. ``token_type_hint`` only orders the two lookups (§2.1). Only the
client a token was issued to may revoke it (§2.1). Unknown or invalid tokens get 200 (§2.2). A
storage failure propagates (the shell answers 503), never a silent 200.

The kill switch (suspension, "revoke every token of this client") does not depend on finding
each token: it records a per-client cutoff, ``revoked_before``, and every check
(``claims_revoked``: introspection, the AS's own bearer checks; ``gatepass.rs`` through the
revocation channel and feed) refuses a token of that client whose ``iat`` is earlier. ``iat``
has whole-second resolution and is never later than the issuing moment (it is rounded down), so
a token signed before the cutoff was taken always has ``iat < revoked_before``: the rule
``iat < revoked_before`` misses none. Tokens signed in the rest of that second are refused too
(for a suspended client no tokens are issued then; after "revoke every token" a fresh token
works from the next whole second). Clocks of the instances are assumed synchronized (NTP).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatepass.core.directory import ClientEntry
from gatepass.errors import UnauthorizedClient
from gatepass.keys import Keyring
from gatepass.storage.base import RevocationStore, StorageError

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = [
    "Revoked",
    "Revoker",
    "claims_revoked",
    "revoke_grant",
    "revoke_grant_tokens",
    "revoke_outstanding",
]

log = logging.getLogger("gatepass.revocation")


async def claims_revoked(revocations: RevocationStore, claims: Mapping[str, Any]) -> bool:
    """Whether a verified access token is revoked: by its ``jti`` or by its client's cutoff."""
    client_id, iat = claims.get("client_id"), claims.get("iat")
    return await revocations.token_revoked(
        str(claims.get("jti")), client_id if isinstance(client_id, str) else None,
        float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None)


@dataclass(frozen=True, slots=True)
class Revoked:
    """What a revocation request revoked: an access token (its ``jti``) or a grant."""

    token_type: str
    jti: str | None = None
    grant_id: str | None = None

    def details(self) -> dict[str, Any]:
        """The audit details of the ``token.revoked`` event."""
        found = {"token_type": self.token_type, "jti": self.jti, "grant_id": self.grant_id}
        return {k: v for k, v in found.items() if v is not None}


class Revoker:
    """Revokes this server's access and refresh tokens."""

    def __init__(self, server: AuthorizationServer) -> None:
        self._server = server

    async def revoke(self, caller: ClientEntry, keyring: Keyring, token: str,
                     hint: str | None = None) -> Revoked | None:
        """Revoke ``token``; what was revoked, or None when there was nothing to revoke."""
        if hint == "refresh_token":
            return await self._refresh(caller, token) or await self._access(caller, keyring, token)
        return await self._access(caller, keyring, token) or await self._refresh(caller, token)

    async def _access(self, caller: ClientEntry, keyring: Keyring, token: str) -> Revoked | None:
        claims = keyring.verify(token)
        now = self._server.clock.now()
        if claims is None or not isinstance(claims.get("jti"), str):
            return None
        exp = float(claims.get("exp", 0))
        if exp <= now:
            return None
        if claims.get("client_id") != caller.client.client_id:
            raise UnauthorizedClient("The token was not issued to this client")
        jti: str = claims["jti"]
        await self._server.stores.revocations.revoke(jti, exp, now)
        return Revoked("access_token", jti=jti)

    async def _refresh(self, caller: ClientEntry, token: str) -> Revoked | None:
        """Any refresh token of the caller's, even used or expired, ends its grant."""
        server = self._server
        record = await server.stores.grants.find_refresh(server.hasher.digest(token))
        if record is None:
            return None
        if record.client_id != caller.client.client_id:
            raise UnauthorizedClient("The token was not issued to this client")
        await revoke_grant(server, record.client_id, record.grant_id,
                           reason="refresh token revoked", actor=record.client_id)
        return Revoked("refresh_token", grant_id=record.grant_id)


async def revoke_grant(server: AuthorizationServer, client_id: str, grant_id: str, *,
                       reason: str, actor: str) -> None:
    """Revoke a grant's refresh tokens and every access token issued under it."""
    await server.stores.grants.revoke_grant(grant_id)
    server.audit.emit("grant.revoked", "success", client_id=client_id, reason=reason,
                      grant_id=grant_id)
    await revoke_grant_tokens(server, client_id, grant_id, actor=actor)


async def revoke_outstanding(server: AuthorizationServer, client_id: str, *, actor: str,
                             settle: float = 0.0) -> int:
    """Revoke every token issued to a client so far by one cutoff at the current time (after
    ``settle`` seconds, the time a change takes to reach every instance). Returns how many
    unexpired tokens the audit trail of issuance lists (for the operator; best effort, the
    cutoff does not depend on it: tokens whose events were lost are revoked all the same)."""
    if settle > 0:
        await asyncio.sleep(settle)
    before = server.clock.now()
    await server.stores.revocations.revoke_client(
        client_id, before, before + server.config.access_token_ttl)
    try:
        await server.audit.flush()
        now = server.clock.now()
        found = await server.stores.audit.find(client_id, "token.issued",
                                               now - server.config.access_token_ttl)
        revoked = sum(1 for ev in found if _unexpired(ev.details, now))
    except StorageError as exc:
        log.warning("tokens of %s revoked by cutoff; counting them failed: %s", client_id, exc)
        revoked = 0
    server.audit.emit("client.tokens_revoked", "success", client_id=client_id, actor=actor,
                      count=revoked, revoked_before=before)
    return revoked


def _unexpired(details: Mapping[str, Any], now: float) -> bool:
    exp = details.get("exp")
    return isinstance(details.get("jti"), str) and isinstance(exp, int | float) and exp > now


async def revoke_grant_tokens(
    server: AuthorizationServer, client_id: str, grant_id: str, *, actor: str
) -> int:
    """Revoke every unexpired access token issued to ``client_id`` under one grant (its
    ``token.issued`` events carry the ``grant_id``). Returns how many were revoked."""
    revoked = await _revoke_issued(
        server, client_id, lambda details: details.get("grant_id") == grant_id)
    server.audit.emit("grant.tokens_revoked", "success", client_id=client_id, actor=actor,
                      grant_id=grant_id, count=revoked)
    return revoked


async def _revoke_issued(server: AuthorizationServer, client_id: str,
                         selected: Callable[[Mapping[str, Any]], bool]) -> int:
    """Revoke the unexpired tokens of ``client_id``'s ``token.issued`` events that ``selected``
    keeps; the audit buffer is flushed first so the newest issuances are seen."""
    await server.audit.flush()
    now = server.clock.now()
    revoked = 0
    for ev in await server.stores.audit.find(client_id, "token.issued",
                                             now - server.config.access_token_ttl):
        if _unexpired(ev.details, now) and selected(ev.details):
            await server.stores.revocations.revoke(ev.details["jti"], float(ev.details["exp"]),
                                                   now)
            revoked += 1
    return revoked
