"""Access-token verification (RFC 9068 §4, RFC 8725 §3, RFC 6750 §2.1): key, signature, claims.

``TokenVerifier.verify`` runs, in order: size cap, verified-token cache, JOSE header checks
(allow-listed ``alg``, ``typ: at+jwt``, no ``jku``/``jwk``/``x5u``, no unknown ``crit``), the
``kid`` key from the JWKS cache with the algorithm the key allows, the signature, then
``iss``/``aud``/``exp``/``nbf``/``iat``, and last the optional revocation check. It raises only
``OAuthError`` values: ``MissingToken``, ``InvalidRequest``, ``InvalidToken``, ``TokenExpired``,
``TokenRevoked`` (and ``TemporarilyUnavailable`` from a fail-closed introspection checker).

``known`` is the synchronous front of it: the cached principal of a token verified before, looked
up from the raw header bytes when the revocation checker can answer from memory.

Revocation is checked by default: without a ``revocation`` checker, ``start`` (or the first
``verify``) builds one from the issuer's RFC 8414 metadata as ``config.revocation`` says
(``default_revocation_checker``), and a config that cannot authenticate to it is refused at
construction. ``revocation="none"`` is the explicit opt-out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from gatepass.clock import Clock, SystemClock
from gatepass.errors import InvalidToken, TokenRevoked
from gatepass.models import Principal
from gatepass.rs._bearer import extract_bearer
from gatepass.rs._claims import principal_from_claims
from gatepass.rs._jws import check_header, json_object, parse_compact, verify_signature
from gatepass.rs._token_cache import TokenCache, bearer_digest, token_digest
from gatepass.rs.config import ResourceServerConfig
from gatepass.rs.jwks_cache import JWKSCache
from gatepass.rs.revocation import (
    ClientCutoffs,
    FeedRevocationChecker,
    IntrospectionChecker,
    RevocationChecker,
    RevocationDenylist,
)

__all__ = ["TokenVerifier", "VerifierStats", "default_revocation_checker"]


def default_revocation_checker(
    config: ResourceServerConfig,
    metadata: dict[str, Any],
    *,
    clock: Clock,
    http_client: httpx.AsyncClient | None = None,
) -> RevocationChecker:
    """The checker ``config.revocation`` asks for, from the issuer's RFC 8414 ``metadata``:
    its ``revocation_feed_endpoint`` (Gatepass) for ``auto``/``feed``, else its
    ``introspection_endpoint`` (RFC 7662) for ``auto``/``introspection``."""
    if config.client_id is None or config.client_secret is None:
        raise ValueError(_NEEDS_CREDENTIALS)
    feed, introspection = (metadata.get("revocation_feed_endpoint"),
                           metadata.get("introspection_endpoint"))
    if config.revocation in ("auto", "feed") and isinstance(feed, str) and feed:
        return FeedRevocationChecker(
            config.issuer, url=feed, client_id=config.client_id,
            client_secret=config.client_secret, http_client=http_client,
            interval=config.revocation_interval, clock=clock)
    if config.revocation in ("auto", "introspection") and isinstance(introspection, str) \
            and introspection:
        return IntrospectionChecker(
            introspection, client_id=config.client_id, client_secret=config.client_secret,
            http_client=http_client, clock=clock)
    raise ValueError(
        f"The issuer's metadata names no endpoint for revocation={config.revocation!r}")


_NEEDS_CREDENTIALS = (
    "Checking revocation needs client_id and client_secret (a client allowed gatepass:introspect)"
    " in ResourceServerConfig; set revocation='none' to accept revoked tokens until they expire"
)


@dataclass(slots=True)
class VerifierStats:
    """Counters for metrics and tests: full signature checks and cache hits."""

    signature_checks: int = 0
    cache_hits: int = 0


class TokenVerifier:
    """Verifies Gatepass access tokens for one resource and returns the caller's ``Principal``."""

    def __init__(
        self,
        config: ResourceServerConfig,
        *,
        clock: Clock | None = None,
        http_client: httpx.AsyncClient | None = None,
        revocation: RevocationChecker | None = None,
        jwks: JWKSCache | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.jwks = jwks or JWKSCache(config, clock=self.clock, http_client=http_client)
        # no checker given: one is built from the issuer's metadata when the verifier starts
        self._pending = revocation is None and config.checks_revocation
        if self._pending and (config.client_id is None or config.client_secret is None):
            raise ValueError(_NEEDS_CREDENTIALS)
        self._http = http_client
        self._use(revocation)
        self.stats = VerifierStats()
        self._cache = TokenCache(config.cache_size, leeway=config.leeway)
        self._started = False
        self._starting = asyncio.Lock()

    def _use(self, revocation: RevocationChecker | None) -> None:
        self.revocation = revocation
        self._denylist = revocation if isinstance(revocation, RevocationDenylist) else None
        self._cutoffs = revocation if isinstance(revocation, ClientCutoffs) else None
        # a checker that must be awaited sends every request the full way: no hashing here first;
        # nothing is served from the cache before the default checker exists
        self._answers_now = not self._pending and (revocation is None or self._denylist is not None)

    async def start(self) -> None:
        """Start the revocation checker, building the default one first; safe to call twice.
        Raises when the default checker cannot be set up (metadata, credentials, first read)."""
        async with self._starting:
            if self._started:
                return
            if self._pending:
                metadata = await self.jwks.issuer_metadata()
                checker = default_revocation_checker(self.config, metadata, clock=self.clock,
                                                     http_client=self._http)
                await checker.start()
                self._pending = False
                self._use(checker)
            elif self.revocation is not None:
                await self.revocation.start()
            self._started = True

    async def stop(self) -> None:
        """Stop the revocation checker and close the HTTP client this verifier created."""
        if self._started and self.revocation is not None:
            await self.revocation.stop()
        self._started = False
        await self.jwks.aclose()

    async def __aenter__(self) -> TokenVerifier:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def known(self, header: bytes) -> Principal | None:
        """The principal of the token in a raw ``Authorization: Bearer`` value when it was verified
        before, is cached and is known not to be revoked, found without awaiting (the hot path).

        None means "verify it": not cached, not the plain ``Bearer <token>`` form, or a
        revocation checker that must be awaited. Raises ``TokenRevoked`` for a revoked token.
        A cache entry exists only for exactly this token, which passed every check when stored.
        """
        if (not self._answers_now or header[:7].lower() != b"bearer "
                or len(header) > self.config.max_token_bytes + 7 or not header.isascii()):
            return None
        digest = bearer_digest(header)
        principal = self._cache.get(digest, self.clock.now())
        if principal is None:
            return None
        jti = principal.token_id
        if self._denylist is not None and jti is not None:
            revoked = self._denylist.denies(jti)
            if revoked is None:
                return None
            if revoked:
                self._cache.discard(digest)
                raise TokenRevoked("The access token has been revoked")
        self._check_cutoff(principal, digest)
        self.stats.cache_hits += 1
        return principal

    async def authenticate(self, authorization: str | Sequence[str] | None) -> Principal:
        """Verify the bearer token in a request's ``Authorization`` header value(s)."""
        if authorization is None or isinstance(authorization, str):
            authorization = [] if authorization is None else [authorization]
        if len(authorization) == 1 and authorization[0].isascii():
            principal = self.known(authorization[0].encode("ascii"))
            if principal is not None:
                return principal
        token = extract_bearer(
            authorization,
            max_token_bytes=self.config.max_token_bytes,
            token_endpoint=self.config.token_endpoint,
        )
        return await self.verify(token)

    async def verify(self, token: str) -> Principal:
        """Verify one access token; cached results skip signature work until the token expires."""
        if len(token) > self.config.max_token_bytes:
            raise InvalidToken(f"Access token exceeds {self.config.max_token_bytes} bytes")
        if not token.isascii():
            raise InvalidToken("The access token is not ASCII")
        if self._pending:
            await self.start()  # the default revocation checker exists before any answer
        digest = token_digest(token)
        principal = await self._cached(token, digest)
        if principal is not None:
            return principal
        principal = await self._verify_uncached(token, self.clock.now())
        await self._check_revoked(principal, token, digest)
        self._cache.put(digest, principal)
        return principal

    async def _cached(self, token: str, digest: bytes) -> Principal | None:
        """The cached principal of a token verified before and not revoked since; None when
        the token (an ASCII string, ``digest`` its cache key) is not in the cache."""
        principal = self._cache.get(digest, self.clock.now())
        if principal is not None:
            self.stats.cache_hits += 1
            await self._check_revoked(principal, token, digest)
        return principal

    def forget(self, token: str) -> None:
        """Drop one token from the verified-token cache."""
        self._cache.discard(token_digest(token))

    async def _verify_uncached(self, token: str, now: float) -> Principal:
        jws = parse_compact(token)
        alg, kid = check_header(jws.header, self.config.algorithms)
        key = await self.jwks.get(kid)
        if key is None:
            raise InvalidToken("The token was signed with a key this resource does not know")
        if alg not in key.algorithms:
            raise InvalidToken("The token signing algorithm does not match its key")
        self.stats.signature_checks += 1
        verify_signature(jws, alg, key.key)
        return principal_from_claims(json_object(jws.payload, "payload"), self.config, now)

    def _check_cutoff(self, principal: Principal, digest: bytes) -> None:
        """Refuse a token of a client whose tokens were all revoked (by cutoff) after its
        ``iat``."""
        if self._cutoffs is None:
            return
        iat = principal.claims.get("iat")
        issued = float(iat) if isinstance(iat, int | float) else None
        if self._cutoffs.cuts_off(principal.client_id, issued):
            self._cache.discard(digest)
            raise TokenRevoked("The access token has been revoked")

    async def _check_revoked(self, principal: Principal, token: str, digest: bytes) -> None:
        self._check_cutoff(principal, digest)
        jti = principal.token_id
        if self.revocation is None or jti is None:
            return
        if await self.revocation.is_revoked(jti, token=token):
            self._cache.discard(digest)
            raise TokenRevoked("The access token has been revoked")
