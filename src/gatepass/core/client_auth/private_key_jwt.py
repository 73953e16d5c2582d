"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9).

The assertion's ``iss`` and ``sub`` are the client id; ``aud`` is the issuer or the token
endpoint URL (the rfc7523bis direction: an array only when every value is one of these two; no
other endpoint's URL); ``exp`` is required and bounded; ``jti`` is single-use until ``exp``; the
algorithm comes from an allow-list; keys come from the client's registered ``jwks`` or
``jwks_uri``. When no key of a fetched ``jwks_uri`` document verifies the assertion, the
document is fetched once more past the cache (the client may have rotated its keys; the fetcher
bounds how often).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from gatepass.clock import Clock
from gatepass.core.directory import ClientDirectory, ClientEntry
from gatepass.core.requests import OAuthRequest
from gatepass.errors import InvalidClient
from gatepass.keys import NoKeyVerifies, peek_claims, verify_jws_with_jwks
from gatepass.storage.base import ReplayCache

__all__ = ["ASSERTION_TYPE", "JwksFetcher", "KeysUnavailable", "PrivateKeyJwt", "verify_with_keys"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_BYTES = 8192
LEEWAY = 30


class JwksFetcher(Protocol):
    """Fetches a JWKS by URL (with an SSRF guard, timeout and cache); raises on failure.

    ``refresh=True`` asks for a newer document than the cached one (the signer may have rotated
    its keys); the fetcher may still answer from its cache when it refreshed that URL recently.
    """

    def __call__(self, url: str, *, refresh: bool = False) -> Awaitable[Mapping[str, Any]]: ...


class KeysUnavailable(Exception):
    """The signer's ``jwks_uri`` could not be fetched."""


async def verify_with_keys(
    token: str,
    jwks: Mapping[str, Any] | None,
    jwks_uri: str | None,
    fetch: JwksFetcher,
    algorithms: Sequence[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify ``token`` with the registered ``jwks``, else with the document at ``jwks_uri``;
    when no key of that document verifies it, once more with a refreshed one. Returns (header,
    claims); raises :class:`KeysUnavailable` when the document cannot be fetched, ``ValueError``
    when no key verifies the token."""
    if jwks is not None:
        return verify_jws_with_jwks(token, jwks, algorithms)
    try:
        document = await fetch(jwks_uri or "")
    except Exception as exc:
        raise KeysUnavailable(f"cannot fetch {jwks_uri!r}: {exc}") from exc
    try:
        return verify_jws_with_jwks(token, document, algorithms)
    except NoKeyVerifies as unknown:
        try:
            fresh = await fetch(jwks_uri or "", refresh=True)
        except Exception:  # the signer's keys are unreachable now: the first answer stands
            raise unknown from None
        if fresh == document:
            raise
        return verify_jws_with_jwks(token, fresh, algorithms)


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
            _, claims = await verify_with_keys(assertion, client.jwks, client.jwks_uri,
                                               self._fetch_jwks, self._algorithms_for(entry))
        except KeysUnavailable as exc:
            raise InvalidClient("Could not obtain the client's keys from its jwks_uri") from exc
        except ValueError as exc:
            raise InvalidClient(f"client_assertion rejected: {exc}") from exc
        return claims

    def _algorithms_for(self, entry: ClientEntry) -> tuple[str, ...]:
        """The client's registered ``token_endpoint_auth_signing_alg`` alone when it has one (none
        at all if the allow-list dropped it: fail closed), else the whole allow-list."""
        pinned = entry.client.metadata.get("token_endpoint_auth_signing_alg")
        if pinned is None:
            return self.algorithms
        return (pinned,) if pinned in self.algorithms else ()

    async def _check_claims(self, client_id: str, claims: Mapping[str, Any]) -> None:
        now = self._clock.now()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise InvalidClient("client_assertion iss and sub must both be the client_id")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not auds or not all(isinstance(a, str) and a in self._audiences for a in auds):
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
