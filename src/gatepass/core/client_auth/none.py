"""Public clients: ``token_endpoint_auth_method`` ``none`` (RFC 7591 §2, RFC 6749 §2.1 and
§3.2.1, OAuth 2.1 §2.4, RFC 7009 §2.1).

The client only names itself with ``client_id``. That is accepted for clients registered (or
described by a metadata document) with method ``none``, at two endpoints: the token endpoint,
for the authorization code and refresh token grants only (PKCE and refresh-token rotation bind
the grant to the client instance), and the revocation endpoint, where RFC 7009 §2.1 lets a
public client revoke its own tokens. The server registers one instance per endpoint; client
credentials and introspection (RFC 7662 §2.1) stay confidential-only.
"""

from __future__ import annotations

from collections.abc import Collection

from gatepass.core.cimd import ClientResolver
from gatepass.core.directory import ClientEntry
from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidClient

__all__ = ["NoneAuth"]

PUBLIC_GRANTS = ("authorization_code", "refresh_token")
_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type")


class NoneAuth:
    """A public client identified by ``client_id`` alone.

    ``grants``: the grant types it may request here (the token endpoint); None at an endpoint
    that issues nothing (revocation), where a ``grant_type`` parameter means nothing.
    """

    name = "none"

    def __init__(self, resolver: ClientResolver,
                 grants: Collection[str] | None = PUBLIC_GRANTS) -> None:
        self._resolver = resolver
        self._grants = grants

    def present(self, request: OAuthRequest) -> bool:
        return (request.authorization is None and "client_id" in request.form
                and not any(name in request.form for name in _CREDENTIALS))

    async def authenticate(self, request: OAuthRequest) -> ClientEntry:
        if self._grants is not None and request.get("grant_type") not in self._grants:
            raise InvalidClient("Client authentication required: public clients (method none) "
                                "may only use the authorization_code and refresh_token grants")
        entry = await self._resolver.lookup(request.get("client_id") or "")
        if entry is None or entry.client.token_endpoint_auth_method != self.name:
            raise InvalidClient()
        return entry
