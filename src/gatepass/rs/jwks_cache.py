"""JWKS discovery and caching (RFC 7517 §4-5, RFC 8414 §3, RFC 8725 §3.1): cooldown, serve stale.

Keys come only from the issuer's JWKS, found through ``jwks_uri`` in the configuration or in the
issuer's RFC 8414 metadata, or from a ``source`` callable when the issuer runs in the same process
(no HTTP request to oneself). An unknown ``kid`` triggers at most one refetch per cooldown; while
the issuer is unreachable the cached keys keep working and unknown keys stay unknown. Keys without a
``kid``, with a ``use`` other than ``sig``, symmetric or private keys, and keys that cannot verify
any allowed algorithm are ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import JWKRegistry, Key

from gatepass.clock import Clock
from gatepass.rs._jws import key_algorithms
from gatepass.rs.config import ResourceServerConfig, well_known_url

__all__ = ["JWKSCache", "JwksSource", "VerificationKey", "parse_jwks"]

_log = logging.getLogger(__name__)
_MAX_DOCUMENT_BYTES = 512 * 1024
_ASYMMETRIC_KTY = frozenset({"RSA", "EC", "OKP"})

#: An in-process JWK Set provider: returns the issuer's current public JWKS document.
JwksSource = Callable[[], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A published public key and the allowed algorithms it may verify."""

    kid: str
    key: Key
    algorithms: frozenset[str]


def _import_key(jwk: object, allowed: Collection[str]) -> VerificationKey | None:
    if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") not in _ASYMMETRIC_KTY:
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. an RSA key under 2048 bits is refused
            key = JWKRegistry.import_key(jwk)
    except Exception:  # a malformed published key is skipped, never fatal
        _log.warning("Ignoring unusable JWK %r", kid)
        return None
    algorithms = key_algorithms(key, allowed)
    return VerificationKey(kid, key, algorithms) if algorithms else None


def parse_jwks(document: Mapping[str, Any], allowed: Collection[str]) -> dict[str, VerificationKey]:
    """The usable verification keys of a JWK Set (RFC 7517 §5), by ``kid``; first one wins."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("The JWK Set has no keys array")
    result: dict[str, VerificationKey] = {}
    for jwk in keys:
        found = _import_key(jwk, allowed)
        if found is not None:
            result.setdefault(found.kid, found)
    return result


def _metadata_urls(issuer: str) -> list[str]:
    inserted = well_known_url(issuer, "oauth-authorization-server")
    appended = issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
    return [inserted] if inserted == appended else [inserted, appended]


class JWKSCache:
    """The issuer's verification keys, fetched with httpx and kept until the next good fetch.

    ``source`` replaces the HTTP fetch (and discovery) by a call in this process; the cooldown,
    the maximum age and the key filtering apply all the same.
    """

    def __init__(
        self,
        config: ResourceServerConfig,
        *,
        clock: Clock,
        http_client: httpx.AsyncClient | None = None,
        source: JwksSource | None = None,
    ) -> None:
        self._config = config
        self._source = source
        self._clock = clock
        self._http = http_client
        self._owns_http = http_client is None
        self._jwks_uri = config.jwks_uri
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_attempts = 0

    @property
    def kids(self) -> frozenset[str]:
        """The ``kid`` values currently cached."""
        return frozenset(self._keys)

    async def get(self, kid: str) -> VerificationKey | None:
        """The key for ``kid``; refetches if unknown or stale, as the cooldown allows."""
        found = self._keys.get(kid)
        if found is not None and not self._stale():
            return found
        if self._may_fetch():
            async with self._lock:
                if self._may_fetch():
                    await self._fetch()
            found = self._keys.get(kid)
        return found

    async def refresh(self) -> bool:
        """Fetch now, ignoring the cooldown; ``False`` (and the old keys kept) on any failure."""
        async with self._lock:
            return await self._fetch()

    async def aclose(self) -> None:
        """Close the HTTP client if this cache created it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _stale(self) -> bool:
        fetched = self._fetched_at
        return fetched is None or self._clock.now() - fetched >= self._config.jwks_max_age

    def _may_fetch(self) -> bool:
        tried = self._attempted_at
        return tried is None or self._clock.now() - tried >= self._config.jwks_refetch_cooldown

    async def _fetch(self) -> bool:
        self._attempted_at = self._clock.now()
        self.fetch_attempts += 1
        try:
            uri, document = await self._load()
            keys = parse_jwks(document, self._config.algorithms)
            if not keys:
                raise ValueError("The JWK Set holds no usable verification key")
        except Exception as exc:  # the issuer being down must never turn into a 500
            _log.warning("JWKS refresh from %s failed: %s", self._config.issuer, exc)
            return False
        self._jwks_uri, self._keys, self._fetched_at = uri, keys, self._clock.now()
        return True

    async def _load(self) -> tuple[str | None, Mapping[str, Any]]:
        if self._source is not None:
            return self._jwks_uri, await self._source()
        uri = self._jwks_uri or await self._discover()
        return uri, await self._get_json(uri)

    async def issuer_metadata(self) -> dict[str, Any]:
        """The issuer's RFC 8414 metadata (path-inserted URL first), its ``issuer`` checked."""
        error: Exception = ValueError("no metadata URL")
        for url in _metadata_urls(self._config.issuer):
            try:
                document = await self._get_json(url)
            except (httpx.HTTPError, ValueError) as exc:
                error = exc
                continue
            if document.get("issuer") != self._config.issuer:
                raise ValueError("The metadata issuer does not match (RFC 8414 §3.3)")
            return document
        raise error

    async def _discover(self) -> str:
        jwks_uri = (await self.issuer_metadata()).get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ValueError("The authorization server metadata has no jwks_uri")
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._config.http_timeout)
        response = await self._http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > _MAX_DOCUMENT_BYTES:
            raise ValueError(f"{url} answered more than {_MAX_DOCUMENT_BYTES} bytes")
        document = json.loads(response.content)
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return document
