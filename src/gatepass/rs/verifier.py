"""Access-token verification (RFC 9068 §4, RFC 8725 §3, RFC 6750 §2.1): key, signature, claims.

``TokenVerifier.verify`` runs, in order: size cap, verified-token cache, JOSE header checks
(allow-listed ``alg``, ``typ: at+jwt``, no ``jku``/``jwk``/``x5u``, no unknown ``crit``), the
``kid`` key from the JWKS cache with the algorithm the key allows, the signature, then
``iss``/``aud``/``exp``/``nbf``/``iat``, and last the optional revocation check. It raises only
``OAuthError`` values: ``MissingToken``, ``InvalidRequest``, ``InvalidToken``, ``TokenExpired``,
``TokenRevoked`` (and ``TemporarilyUnavailable`` from a fail-closed introspection checker).

``known`` is the synchronous front of it: the cached principal of a token verified before, looked
up from the raw header bytes when the revocation checker can answer from memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

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
from gatepass.rs.revocation import ClientCutoffs, RevocationChecker, RevocationDenylist

__all__ = ["TokenVerifier", "VerifierStats"]


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
        self.revocation = revocation
        self._denylist = revocation if isinstance(revocation, RevocationDenylist) else None
        self._cutoffs = revocation if isinstance(revocation, ClientCutoffs) else None
        # a checker that must be awaited sends every request the full way: no hashing here first
        self._answers_now = revocation is None or self._denylist is not None
        self.stats = VerifierStats()
        self._cache = TokenCache(config.cache_size, leeway=config.leeway)
        self._started = False

    async def start(self) -> None:
        """Start the revocation checker (if any); safe to call twice."""
        if not self._started and self.revocation is not None:
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
