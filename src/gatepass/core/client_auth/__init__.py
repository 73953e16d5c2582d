"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

Exactly one method per request; the methods are modules registered with ``ClientAuthenticator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gatepass.core.directory import ClientEntry
from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidClient, InvalidRequest

__all__ = ["ClientAuthMethod", "ClientAuthenticator"]


class ClientAuthMethod(Protocol):
    """One client-authentication method."""

    name: str

    def present(self, request: OAuthRequest) -> bool:
        """Does the request carry this method's credentials?"""

    async def authenticate(self, request: OAuthRequest) -> ClientEntry:
        """The authenticated client, or ``InvalidClient``."""


class ClientAuthenticator:
    """Finds the one method a request uses and runs it."""

    def __init__(self, methods: Sequence[ClientAuthMethod]) -> None:
        self.methods = tuple(methods)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.methods]

    async def authenticate(self, request: OAuthRequest) -> ClientEntry:
        used = [m for m in self.methods if m.present(request)]
        if len(used) > 1:
            raise InvalidRequest(
                "More than one client authentication method used: "
                + ", ".join(m.name for m in used)
                + " (RFC 6749 §2.3 allows one)"
            )
        if not used:
            raise InvalidClient(
                "Client authentication required: use HTTP Basic, client_secret in the body, "
                "or a private_key_jwt client_assertion"
            )
        entry = await used[0].authenticate(request)
        if not entry.client.is_active:
            raise InvalidClient(f"Client is {entry.client.status}")
        return entry
