"""The client credentials grant (RFC 6749 §4.4): the client acts on its own behalf."""

from __future__ import annotations

from gatepass.core.access_token import (
    AccessTokenIssuer,
    IssuedToken,
    resolve_audience,
    resolve_scopes,
)
from gatepass.core.config import ServerConfig
from gatepass.core.directory import ClientEntry
from gatepass.core.grants import require_grant
from gatepass.core.requests import OAuthRequest

__all__ = ["ClientCredentialsGrant"]


class ClientCredentialsGrant:
    """``grant_type=client_credentials``; no refresh token is issued (§4.4.3)."""

    grant_type = "client_credentials"

    def __init__(self, config: ServerConfig, issuer: AccessTokenIssuer) -> None:
        self._config = config
        self._issuer = issuer

    async def issue(self, entry: ClientEntry, request: OAuthRequest) -> IssuedToken:
        client = entry.client
        require_grant(client, self.grant_type)
        scopes = resolve_scopes(client, request.get("scope"), self._config)
        audience = resolve_audience(client, request.resources, self._config)
        return self._issuer.issue(client, scopes, audience)
