"""Grant handlers, one module per grant type (RFC 6749 §4)."""

from __future__ import annotations

from typing import Protocol

from gatepass.core.access_token import IssuedToken
from gatepass.core.directory import ClientEntry
from gatepass.core.requests import OAuthRequest

__all__ = ["GrantHandler"]


class GrantHandler(Protocol):
    """Issues a token for one ``grant_type`` to an authenticated client."""

    grant_type: str

    async def issue(self, entry: ClientEntry, request: OAuthRequest) -> IssuedToken: ...
