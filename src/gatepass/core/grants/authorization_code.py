"""The authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5-§4.6,
RFC 8707 §2.2, OAuth 2.1 §4.1.3).

The code is spent on first presentation, whatever follows. A second presentation is a replay:
the grant and every token issued under it are revoked (RFC 6749 §4.1.2) and the answer is
``invalid_grant``. The code must belong to the authenticated client, the ``redirect_uri`` must
equal the one of the authorization request, and the ``code_verifier`` must hash (S256) to the
stored challenge, compared in constant time. Tokens carry ``sub`` = the owner and ``client_id`` =
the client; a rotating refresh token comes with them when the client may refresh.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING

from gatepass.core.access_token import IssuedToken, resolve_scopes
from gatepass.core.directory import ClientEntry
from gatepass.core.grants import require_grant
from gatepass.core.grants.refresh_token import REFRESH_TTL, Family, GrantTokens, narrow_resources
from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidGrant, InvalidRequest
from gatepass.scopes import format_scope

if TYPE_CHECKING:
    from gatepass.core.server import AuthorizationServer

__all__ = ["AuthorizationCodeGrant", "pkce_s256_matches"]

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def pkce_s256_matches(verifier: str | None, challenge: str) -> bool:
    """RFC 7636 §4.1 verifier syntax and §4.6 ``BASE64URL(SHA256(verifier)) == challenge``."""
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


class AuthorizationCodeGrant:
    """``grant_type=authorization_code``."""

    grant_type = "authorization_code"

    def __init__(self, server: AuthorizationServer, tokens: GrantTokens) -> None:
        self._server = server
        self._tokens = tokens

    async def issue(self, entry: ClientEntry, request: OAuthRequest) -> IssuedToken:
        client = entry.client
        require_grant(client, self.grant_type)
        code, redirect_uri = request.get("code"), request.get("redirect_uri")
        if code is None or redirect_uri is None:
            raise InvalidRequest("code and redirect_uri are required")
        server = self._server
        now = server.clock.now()
        record = await server.stores.grants.consume_code(server.hasher.digest(code), now)
        if record is None:
            raise InvalidGrant("Unknown authorization code")
        if record.used_at is not None:
            await self._tokens.revoke(record.client_id, record.grant_id, "code replayed")
            raise InvalidGrant("The authorization code was already used; the tokens issued from "
                               "it are revoked (RFC 6749 §4.1.2)")
        if record.expires_at <= now:
            raise InvalidGrant("The authorization code has expired")
        if record.client_id != client.client_id:
            raise InvalidGrant("The authorization code was issued to another client")
        if redirect_uri != record.redirect_uri:
            raise InvalidGrant("redirect_uri differs from the one of the authorization request")
        if not pkce_s256_matches(request.get("code_verifier"), record.code_challenge):
            raise InvalidGrant("code_verifier is missing or does not match the code_challenge "
                               "(RFC 7636 §4.6)")
        await self._tokens.check_owner(record.owner_id)
        scopes = resolve_scopes(client, format_scope(record.scopes), server.config,
                                consented=True)
        resources = narrow_resources(request.resources, record.resources)
        family = Family(record.grant_id, record.owner_id, record.scopes, record.resources,
                        now + REFRESH_TTL)
        return await self._tokens.issue(client, family, scopes, resources)
