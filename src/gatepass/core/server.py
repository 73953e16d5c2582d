"""AuthorizationServer: wires the enabled grants and client-auth methods with stores and keys.

Endpoints of RFC 6749 §3.2 (token), RFC 7662 (introspection) and RFC 7009 (revocation), each
taking an ``OAuthRequest`` and returning data or raising ``OAuthError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gatepass.clock import Clock
from gatepass.core.access_token import AccessTokenIssuer
from gatepass.core.audit import Auditor
from gatepass.core.authorize import Authorizer
from gatepass.core.cimd import CimdFetcher, ClientResolver
from gatepass.core.client_auth import ClientAuthenticator, ClientAuthMethod
from gatepass.core.client_auth.none import NoneAuth
from gatepass.core.client_auth.private_key_jwt import JwksFetcher, PrivateKeyJwt
from gatepass.core.client_auth.secret import ClientSecretBasic, ClientSecretPost, named_client
from gatepass.core.config import ServerConfig
from gatepass.core.credentials import SecretHasher
from gatepass.core.directory import ClientDirectory, ClientEntry
from gatepass.core.discovery import build_metadata
from gatepass.core.grants import GrantHandler
from gatepass.core.grants.authorization_code import AuthorizationCodeGrant
from gatepass.core.grants.client_credentials import ClientCredentialsGrant
from gatepass.core.grants.refresh_token import GrantTokens, RefreshTokenGrant
from gatepass.core.introspection import Introspector
from gatepass.core.requests import OAuthRequest
from gatepass.core.revocation import Revoker
from gatepass.errors import InvalidRequest, OAuthError, UnsupportedGrantType
from gatepass.keys import Keyring, KeySealer
from gatepass.storage.base import Stores

__all__ = ["AuthorizationServer"]


class AuthorizationServer:
    """The protocol core of Gatepass."""

    def __init__(
        self,
        config: ServerConfig,
        stores: Stores,
        keyring: Keyring,
        sealer: KeySealer,
        hasher: SecretHasher,
        clock: Clock,
        auditor: Auditor,
        fetch_jwks: JwksFetcher,
    ) -> None:
        self.config = config
        self.stores = stores
        self.sealer = sealer
        self.hasher = hasher
        self.clock = clock
        self.audit = auditor
        self.directory = ClientDirectory(stores.clients, clock, config.client_cache_ttl,
                                         changes=stores.changes)
        self.resolver = ClientResolver(self.directory, config, clock)
        self.issuer = AccessTokenIssuer(config, clock, keyring)
        self.private_key_jwt = PrivateKeyJwt(
            self.directory,
            stores.replay,
            clock,
            audiences=(config.issuer, config.token_endpoint),
            algorithms=config.assertion_algorithms,
            max_lifetime=config.assertion_max_lifetime,
            fetch_jwks=fetch_jwks,
        )
        confidential: Sequence[ClientAuthMethod] = (
            ClientSecretBasic(self.directory, hasher, clock),
            ClientSecretPost(self.directory, hasher, clock),
            self.private_key_jwt,
        )
        self.client_auth = ClientAuthenticator((*confidential, NoneAuth(self.resolver)))
        # Who may call each endpoint. A public client names itself with client_id for the code
        # and refresh grants (OAuth 2.1 §2.4) and to revoke its own tokens (RFC 7009 §2.1);
        # introspection requires authentication (RFC 7662 §2.1). Discovery reads these tables.
        self.endpoint_auth = {
            "token": self.client_auth,
            "introspect": ClientAuthenticator(confidential),
            "revoke": ClientAuthenticator((*confidential, NoneAuth(self.resolver, grants=None))),
        }
        self.endpoint_auth["revocations"] = self.endpoint_auth["introspect"]  # the feed
        grant_tokens = GrantTokens(self)
        grants: Sequence[GrantHandler] = (
            ClientCredentialsGrant(config, self.issuer),
            AuthorizationCodeGrant(self, grant_tokens),
            RefreshTokenGrant(self, grant_tokens),
        )
        self.grants = {g.grant_type: g for g in grants}
        self.introspector = Introspector(stores.revocations, stores.grants, hasher, clock)
        self.revoker = Revoker(self)
        self.authorizer = Authorizer(self)

    def enable_cimd(self, fetch: CimdFetcher) -> None:
        """Accept https URLs as client ids (Client ID Metadata Documents) via ``fetch``."""
        self.resolver.enable_cimd(fetch)

    @property
    def keyring(self) -> Keyring:
        return self.issuer.keyring

    @keyring.setter
    def keyring(self, value: Keyring) -> None:
        self.issuer.keyring = value

    def metadata(self) -> dict[str, Any]:
        return build_metadata(
            self.config,
            grant_types=list(self.grants),
            auth_methods=self.client_auth.names,
            introspection_auth_methods=self.endpoint_auth["introspect"].names,
            revocation_auth_methods=self.endpoint_auth["revoke"].names,
            assertion_algs=self.config.assertion_algorithms,
            signing_algs=[self.keyring.alg],
            client_id_metadata_documents=self.resolver.cimd_enabled,
        )

    async def authenticate_endpoint(self, request: OAuthRequest, endpoint: str) -> ClientEntry:
        """The client calling ``endpoint`` (a key of ``endpoint_auth``); refusals are audited."""
        return await self._authenticate(request, endpoint)

    async def _authenticate(self, request: OAuthRequest, endpoint: str) -> ClientEntry:
        try:
            return await self.endpoint_auth[endpoint].authenticate(request)
        except OAuthError as exc:
            self._refused(f"{endpoint}.refused", None, request,
                          reason=f"{exc.error}: {exc.description}")
            raise

    def _refused(self, event: str, entry: ClientEntry | None, request: OAuthRequest,
                 **fields: Any) -> None:
        """Audit a refusal against the client only if it proved who it is. A failed
        authentication, or a public client that only named itself, is an unauthenticated
        attempt: the named id goes to ``claimed_client_id``, so nobody can fill another
        client's record (its promotion rules, its console chart) with forged refusals."""
        if entry is not None and entry.client.token_endpoint_auth_method != "none":
            self.audit.emit(event, "failure", client_id=entry.client.client_id, **fields)
            return
        claimed = entry.client.client_id if entry is not None else _claimed_client(request)
        self.audit.emit(event, "failure", claimed_client_id=claimed, **fields)

    async def token(self, request: OAuthRequest) -> dict[str, Any]:
        """RFC 6749 §3.2: authenticate, dispatch on ``grant_type``, return the §5.1 body."""
        grant_type = request.get("grant_type")
        entry = await self._authenticate(request, "token")
        client_id = entry.client.client_id
        try:
            if grant_type is None:
                raise InvalidRequest("grant_type is required")
            handler = self.grants.get(grant_type)
            if handler is None:
                raise UnsupportedGrantType(
                    f"Unsupported grant_type {grant_type!r}; supported: {', '.join(self.grants)}"
                )
            issued = await handler.issue(entry, request)
        except OAuthError as exc:
            self._refused("token.refused", entry, request,
                          reason=f"{exc.error}: {exc.description}", scope=request.get("scope"))
            raise
        claims = issued.claims
        grant_id = getattr(issued, "grant_id", None)  # tokens of an owner's grant (RFC 6749 §4.1)
        self.audit.emit("token.issued", "success", client_id=client_id, scopes=issued.scopes,
                        jti=claims["jti"], exp=claims["exp"], aud=claims["aud"],
                        grant_type=grant_type, **({"grant_id": grant_id} if grant_id else {}))
        return issued.response()

    async def introspect(self, request: OAuthRequest) -> dict[str, Any]:
        """RFC 7662 §2.1: the caller must authenticate (public clients cannot); ``token`` is
        required; ``token_type_hint`` only orders the lookups."""
        entry = await self._authenticate(request, "introspect")
        token = request.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        return await self.introspector.introspect(entry, self.keyring, token,
                                                  request.get("token_type_hint"))

    async def revoke(self, request: OAuthRequest) -> None:
        """RFC 7009 §2.1: the caller must authenticate (a public client names itself with
        ``client_id``); ``token`` is required; ``token_type_hint`` only orders the lookups."""
        entry = await self._authenticate(request, "revoke")
        token = request.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        try:
            revoked = await self.revoker.revoke(entry, self.keyring, token,
                                                request.get("token_type_hint"))
        except OAuthError as exc:
            self._refused("token.revoke_refused", entry, request, reason=exc.description)
            raise
        if revoked is not None:
            self.audit.emit("token.revoked", "success", client_id=entry.client.client_id,
                            **revoked.details())


def _claimed_client(request: OAuthRequest) -> str | None:
    """The client id a request claims (for audit only; never trusted)."""
    value = named_client(request)
    return value[:128] if value else None
