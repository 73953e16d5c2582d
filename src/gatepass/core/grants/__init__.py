"""Grant handlers, one module per grant type (RFC 6749 §4)."""

from __future__ import annotations

from typing import Protocol

from gatepass.core.access_token import IssuedToken
from gatepass.core.directory import ClientEntry
from gatepass.core.requests import OAuthRequest
from gatepass.errors import UnauthorizedClient
from gatepass.models import Client

__all__ = ["GrantHandler", "require_grant"]


class GrantHandler(Protocol):
    """Issues a token for one ``grant_type`` to an authenticated client."""

    grant_type: str

    async def issue(self, entry: ClientEntry, request: OAuthRequest) -> IssuedToken: ...


def require_grant(client: Client, grant_type: str) -> None:
    """RFC 6749 §5.2 ``unauthorized_client`` unless the client registered ``grant_type``."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"This client may not use the {grant_type} grant")
