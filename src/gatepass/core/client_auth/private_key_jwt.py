"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9).

The assertion's ``iss`` and ``sub`` are the client id; ``aud`` names the issuer or the token
endpoint; ``exp`` is required and bounded; ``jti`` is single-use until ``exp``; the algorithm
comes from an allow-list; keys come from the client's registered ``jwks`` or ``jwks_uri``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gatepass.clock import Clock
from gatepass.core.directory import ClientDirectory, ClientEntry
from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidClient
from gatepass.keys import peek_claims, verify_jws_with_jwks
from gatepass.storage.base import ReplayCache

__all__ = ["ASSERTION_TYPE", "JwksFetcher", "PrivateKeyJwt"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_BYTES = 8192
LEEWAY = 30

JwksFetcher = Callable[[str], Awaitable[Mapping[str, Any]]]
"""Fetches a client's ``jwks_uri`` (with an SSRF guard, timeout and cache); raises on failure."""


class PrivateKeyJwt:
    """Authenticates a client by a JWT it signed with a key it registered."""

    name = "private_key_jwt"

    def __init__(
        self,
        directory: ClientDirectory,
        replay: ReplayCache,
        clock: Clock,
        *,
        audiences: tuple[str, ...],
        algorithms: tuple[str, ...],
        max_lifetime: int,
        fetch_jwks: JwksFetcher,
    ) -> None:
        self._directory = directory
        self._replay = replay
        self._clock = clock
        self._audiences = audiences
        self.algorithms = algorithms
        self._max_lifetime = max_lifetime
        self._fetch_jwks = fetch_jwks

    def present(self, request: OAuthRequest) -> bool:
        return "client_assertion" in request.form or "client_assertion_type" in request.form

    async def authenticate(self, request: OAuthRequest) -> ClientEntry:
        if request.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = request.get("client_assertion") or ""
        if not assertion or len(assertion) > MAX_ASSERTION_BYTES:
            raise InvalidClient("client_assertion is missing or too large")
        client_id = _unverified_issuer(assertion)
        form_id = request.get("client_id")
        if form_id is not None and form_id != client_id:
            raise InvalidClient("client_id differs from the assertion's iss/sub")
        entry = await self._directory.lookup(client_id)
        if entry is None or not entry.client.uses_private_key_jwt:
            raise InvalidClient()
        claims = await self._verify_signature(entry, assertion)
        await self._check_claims(client_id, claims)
        return entry

    async def _verify_signature(self, entry: ClientEntry, assertion: str) -> dict[str, Any]:
        client = entry.client
        try:
            jwks = client.jwks if client.jwks is not None else await self._fetch_jwks(
                client.jwks_uri or ""
            )
        except Exception as exc:
            raise InvalidClient("Could not obtain the client's keys from its jwks_uri") from exc
        try:
            _, claims = verify_jws_with_jwks(assertion, jwks, self.algorithms)
        except ValueError as exc:
            raise InvalidClient(f"client_assertion rejected: {exc}") from exc
        return claims

    async def _check_claims(self, client_id: str, claims: Mapping[str, Any]) -> None:
        now = self._clock.now()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise InvalidClient("client_assertion iss and sub must both be the client_id")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(a in self._audiences for a in auds):
            raise InvalidClient("client_assertion aud must be the issuer or the token endpoint")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or not math.isfinite(exp):
            raise InvalidClient("client_assertion has no exp")
        if exp + LEEWAY < now:
            raise InvalidClient("client_assertion has expired")
        if exp - now > self._max_lifetime:
            raise InvalidClient(f"client_assertion exp is more than {self._max_lifetime}s ahead")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - LEEWAY > now:
            raise InvalidClient("client_assertion is not yet valid (nbf)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidClient("client_assertion has no jti")
        if not await self._replay.add_once(f"assertion:{client_id}:{jti}", exp + LEEWAY):
            raise InvalidClient("client_assertion jti has already been used")


def _unverified_issuer(assertion: str) -> str:
    """The ``iss`` (== ``sub``) named in the assertion, to find the client's keys."""
    iss = peek_claims(assertion).get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidClient("client_assertion is not a JWT with an iss")
    return iss
