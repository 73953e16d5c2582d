"""The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2,
OAuth 2.1 §4.3.1).

Every use returns a new refresh token of the same grant and spends the old one, but only once
the request is valid (scope, resource): a refused request leaves it usable. Presenting a
spent (or another client's) refresh token revokes the whole grant: its refresh tokens and the
access tokens issued under it. Scope may narrow, never widen; the family keeps its original
scope and its absolute expiry. ``GrantTokens`` is shared with the authorization code grant.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatepass.core.access_token import IssuedToken, resolve_audience, resolve_scopes
from gatepass.core.directory import ClientEntry
from gatepass.core.grants import require_grant
from gatepass.core.requests import OAuthRequest
from gatepass.core.revocation import revoke_grant
from gatepass.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
)
from gatepass.models import Client, RefreshToken
from gatepass.scopes import format_scope, parse_scope

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = ["Family", "GrantToken", "GrantTokens", "RefreshTokenGrant", "narrow_resources"]

REFRESH_TTL = 30 * 86_400
REFRESH_PREFIX = "gprt_"


@dataclass(frozen=True, slots=True)
class GrantToken(IssuedToken):
    """An access token issued under an owner's grant, with its rotated refresh token."""

    grant_id: str = ""
    refresh_token: str | None = None

    def response(self) -> dict[str, Any]:
        body = IssuedToken.response(self)
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


@dataclass(frozen=True, slots=True)
class Family:
    """What every token of one grant shares: owner, original scope, resources, final expiry."""

    grant_id: str
    owner_id: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    expires_at: float


def narrow_resources(requested: Sequence[str], granted: tuple[str, ...]) -> tuple[str, ...]:
    """RFC 8707 §2.2: a token request may name only resources the grant covers."""
    outside = [r for r in requested if r not in granted]
    if outside:
        raise InvalidTarget(f"Resource not covered by this grant: {' '.join(outside)}")
    return tuple(requested) or granted


class GrantTokens:
    """Issues owner-delegated tokens (``sub`` = owner, ``client_id`` = client) and revokes
    grants."""

    def __init__(self, server: AuthorizationServer) -> None:
        self._server = server

    async def check_owner(self, owner_id: str) -> None:
        owner = await self._server.stores.owners.get_owner(owner_id)
        if owner is None or owner.disabled:
            raise InvalidGrant("The owner who granted access no longer exists or is disabled")

    async def issue(self, client: Client, family: Family, scopes: tuple[str, ...],
                    resources: tuple[str, ...]) -> GrantToken:
        """An access token for ``scopes``/``resources`` and, if the client may refresh, the next
        refresh token of ``family``."""
        server = self._server
        audience = resolve_audience(client, resources, server.config)
        token = server.issuer.issue(client, scopes, audience, subject=family.owner_id)
        refresh = None
        if "refresh_token" in client.grant_types:
            refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
            now = server.clock.now()
            await server.stores.grants.add_refresh(RefreshToken(
                token_digest=server.hasher.digest(refresh), grant_id=family.grant_id,
                client_id=client.client_id, owner_id=family.owner_id, scopes=family.scopes,
                created_at=now, expires_at=family.expires_at, resources=family.resources))
        return GrantToken(token.access_token, token.expires_in, token.scopes, token.claims,
                          grant_id=family.grant_id, refresh_token=refresh)

    async def revoke(self, client_id: str, grant_id: str, reason: str) -> None:
        """Revoke a grant's refresh tokens and every access token issued under it."""
        await revoke_grant(self._server, client_id, grant_id, reason=reason,
                           actor="replay_detection")


class RefreshTokenGrant:
    """``grant_type=refresh_token``."""

    grant_type = "refresh_token"

    def __init__(self, server: AuthorizationServer, tokens: GrantTokens) -> None:
        self._server = server
        self._tokens = tokens

    async def issue(self, entry: ClientEntry, request: OAuthRequest) -> IssuedToken:
        client = entry.client
        require_grant(client, self.grant_type)
        value = request.get("refresh_token")
        if value is None:
            raise InvalidRequest("refresh_token is required")
        server = self._server
        now = server.clock.now()
        digest = server.hasher.digest(value)
        record = await self._check(client, await server.stores.grants.find_refresh(digest), now)
        await self._tokens.check_owner(record.owner_id)
        wanted = parse_scope(request.get("scope")) or record.scopes
        wider = [s for s in wanted if s not in record.scopes]
        if wider:
            raise InvalidScope(f"Scope not granted originally (RFC 6749 §6): {' '.join(wider)}")
        scopes = resolve_scopes(client, format_scope(wanted), server.config, consented=True)
        resources = narrow_resources(request.resources, record.resources)
        resolve_audience(client, resources, server.config)
        # Validated: only now is the token spent (atomically; a concurrent use loses here).
        await self._check(client, await server.stores.grants.use_refresh(digest, now), now)
        family = Family(record.grant_id, record.owner_id, record.scopes, record.resources,
                        record.expires_at)
        return await self._tokens.issue(client, family, scopes, resources)

    async def _check(self, client: Client, record: RefreshToken | None,
                     now: float) -> RefreshToken:
        """The refresh token as found or as spent, if still usable by ``client``; a reused or
        another client's token revokes its grant."""
        if record is None:
            raise InvalidGrant("Unknown refresh token")
        if record.revoked:
            raise InvalidGrant("This refresh token's grant was revoked")
        if record.client_id != client.client_id or record.used_at is not None:
            await self._tokens.revoke(record.client_id, record.grant_id, "refresh token reused")
            raise InvalidGrant("This refresh token was already used or belongs to another "
                               "client; the grant is revoked (RFC 9700 §4.14.2)")
        if record.expires_at <= now:
            raise InvalidGrant("The refresh token has expired")
        return record
