"""Token introspection (RFC 7662 §2).

An access token is active when this server signed it with a published key, it has not expired
and it is not revoked (its ``jti``, or its client's cutoff: ``iat`` earlier than
``revoked_before``). A caller sees the claims of tokens issued to itself; a client holding the
``gatepass:introspect`` scope (a resource server) sees any access token. A refresh token is
active when it is unused (not rotated away), its grant is not revoked and it has not expired;
only the client it was issued to sees it (resource servers never hold refresh tokens).
``token_type_hint`` only orders the two lookups (§2.1). Everything else is
``{"active": false}`` (§2.2: no hint why).
"""

from __future__ import annotations

from typing import Any

from gatepass.clock import Clock
from gatepass.core.credentials import SecretHasher
from gatepass.core.directory import ClientEntry
from gatepass.core.revocation import claims_revoked
from gatepass.keys import Keyring
from gatepass.scopes import format_scope
from gatepass.storage.base import GrantStore, RevocationStore

__all__ = ["INTROSPECT_SCOPE", "Introspector"]

INTROSPECT_SCOPE = "gatepass:introspect"
INACTIVE: dict[str, Any] = {"active": False}


class Introspector:
    """Answers RFC 7662 requests for this server's JWT access tokens and refresh tokens."""

    def __init__(self, revocations: RevocationStore, grants: GrantStore, hasher: SecretHasher,
                 clock: Clock) -> None:
        self._revocations = revocations
        self._grants = grants
        self._hasher = hasher
        self._clock = clock

    async def introspect(self, caller: ClientEntry, keyring: Keyring, token: str,
                         hint: str | None = None) -> dict[str, Any]:
        if hint == "refresh_token":
            answer = (await self._refresh(caller, token)
                      or await self._access(caller, keyring, token))
        else:
            answer = (await self._access(caller, keyring, token)
                      or await self._refresh(caller, token))
        return answer or dict(INACTIVE)

    async def _access(self, caller: ClientEntry, keyring: Keyring,
                      token: str) -> dict[str, Any] | None:
        """The answer for one of our JWTs; None if ``token`` is not one."""
        claims = keyring.verify(token)
        if claims is None:
            return None
        if claims.get("exp", 0) <= self._clock.now():
            return dict(INACTIVE)
        allowed = (
            claims.get("client_id") == caller.client.client_id
            or (caller.client.operator and INTROSPECT_SCOPE in caller.client.allowed_scopes)
        )
        if not allowed:
            return dict(INACTIVE)
        if await claims_revoked(self._revocations, claims):
            return dict(INACTIVE)
        return {"active": True, "token_type": "Bearer", **claims}

    async def _refresh(self, caller: ClientEntry, token: str) -> dict[str, Any] | None:
        """The answer for a refresh token the caller holds; None if it is not one."""
        record = await self._grants.find_refresh(self._hasher.digest(token))
        if record is None or record.client_id != caller.client.client_id:
            return None
        if record.used_at is not None or record.revoked or record.expires_at <= self._clock.now():
            return dict(INACTIVE)
        return {"active": True, "token_type": "refresh_token", "client_id": record.client_id,
                "scope": format_scope(record.scopes), "sub": record.owner_id,
                "exp": int(record.expires_at), "iat": int(record.created_at)}
