"""``client_secret_basic`` and ``client_secret_post`` (RFC 6749 §2.3.1)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from gatepass.clock import Clock
from gatepass.core.credentials import SecretHasher
from gatepass.core.directory import ClientDirectory, ClientEntry
from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidClient, InvalidRequest, OAuthError

__all__ = ["ClientSecretBasic", "ClientSecretPost", "named_client", "parse_basic"]

_SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def parse_basic(header: str) -> tuple[str, str] | None:
    """``Basic`` credentials, each part percent-decoded (RFC 6749 §2.3.1); None if not Basic."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest("Malformed HTTP Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidRequest("Malformed HTTP Basic credentials: no ':' separator")
    return unquote_plus(client_id), unquote_plus(secret)


def named_client(request: OAuthRequest) -> str | None:
    """The client id a request names in its body or Basic header: NOT authenticated (for audit
    records and counters only)."""
    value = request.get("client_id")
    if value is None and request.authorization:
        try:
            basic = parse_basic(request.authorization)
        except OAuthError:
            basic = None
        value = basic[0] if basic else None
    return value


class _SecretCheck:
    def __init__(self, directory: ClientDirectory, hasher: SecretHasher, clock: Clock) -> None:
        self._directory = directory
        self._hasher = hasher
        self._clock = clock

    async def check(self, client_id: str, secret: str) -> ClientEntry:
        entry = await self._directory.lookup(client_id)
        if entry is None or entry.client.token_endpoint_auth_method not in _SECRET_METHODS:
            self._hasher.burn()
            raise InvalidClient()
        now = self._clock.now()
        ok = False
        for stored in entry.secrets:
            # Check every valid secret (no early exit) so timing says nothing about which matched.
            ok |= stored.is_valid_at(now) and self._hasher.matches(secret, stored.digest)
        if not ok:
            raise InvalidClient()
        return entry


class ClientSecretBasic(_SecretCheck):
    """Secret in the ``Authorization: Basic`` header."""

    name = "client_secret_basic"

    def present(self, request: OAuthRequest) -> bool:
        header = request.authorization
        return header is not None and header.lstrip()[:6].lower() == "basic "

    async def authenticate(self, request: OAuthRequest) -> ClientEntry:
        creds = parse_basic(request.authorization or "")
        if creds is None:
            raise InvalidClient()
        client_id, secret = creds
        form_id = request.get("client_id")
        if form_id is not None and form_id != client_id:
            raise InvalidRequest("client_id in the body differs from the one in the Basic header")
        return await self.check(client_id, secret)


class ClientSecretPost(_SecretCheck):
    """``client_id`` and ``client_secret`` in the form body."""

    name = "client_secret_post"

    def present(self, request: OAuthRequest) -> bool:
        return "client_secret" in request.form

    async def authenticate(self, request: OAuthRequest) -> ClientEntry:
        client_id, secret = request.get("client_id"), request.get("client_secret")
        if client_id is None or secret is None:
            raise InvalidClient("client_secret_post needs both client_id and client_secret")
        return await self.check(client_id, secret)
