"""Resource-server settings (RFC 9068 §4, RFC 9728 §2-3, RFC 8414 §3): who we trust and who we are.

One frozen value that the verifier, the JWKS cache, the middleware and the metadata route share.
Only asymmetric JWS algorithms can be allowed; ``none`` and the ``HS*`` family are refused at
construction, so a misconfiguration fails at start-up instead of opening a forgery path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

__all__ = ["ASYMMETRIC_ALGORITHMS", "REVOCATION_MODES", "ResourceServerConfig", "well_known_url"]

#: How revoked tokens are found (``ResourceServerConfig.revocation``).
REVOCATION_MODES = ("auto", "feed", "introspection", "none")

#: Every JWS algorithm the toolkit can verify. No ``none``, no MAC (``HS*``) algorithm.
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset(
    {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519", "Ed448",
    }
)  # fmt: skip


def well_known_url(url: str, name: str) -> str:
    """RFC 8414 §3.1 / RFC 9728 §3.1: insert ``/.well-known/<name>`` between host and path."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", ""))


@dataclass(frozen=True, slots=True)
class ResourceServerConfig:
    """What a protected API needs to verify Gatepass access tokens.

    ``issuer`` is compared exactly with ``iss``; ``resource`` is the audience this API is (RFC 8707
    ``resource`` -> ``aud``). ``jwks_uri`` is discovered from the issuer's RFC 8414 metadata when
    omitted. ``scope_implications`` maps a scope to the scopes it implies (``write:projects`` ->
    ``read:projects``). ``scopes_supported`` seeds the RFC 9728 document and the 401 challenge.
    The default ``algorithms`` cover every algorithm a Gatepass server signs with: ES256, RS256
    and Ed25519 (RFC 9864's name), plus the deprecated ``EdDSA`` name other issuers still send.

    ``revocation`` says how revoked tokens are found when no checker is given to the verifier:
    ``"auto"`` (the default) reads the issuer's RFC 8414 metadata and follows its
    ``revocation_feed_endpoint``, else asks its ``introspection_endpoint`` (RFC 7662);
    ``"feed"`` and ``"introspection"`` insist on one; ``"none"`` checks nothing (tokens stay
    valid until ``exp`` after a revocation). Both ways authenticate as ``client_id`` /
    ``client_secret``: a client the issuer allows ``gatepass:introspect``.
    """

    issuer: str
    resource: str
    algorithms: tuple[str, ...] = ("ES256", "RS256", "Ed25519", "EdDSA")
    leeway: float = 30.0
    max_token_bytes: int = 8192
    jwks_uri: str | None = None
    jwks_refetch_cooldown: float = 30.0
    jwks_max_age: float = 3600.0
    scope_implications: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scopes_supported: tuple[str, ...] = ()
    resource_metadata_url: str | None = None
    token_endpoint: str | None = None
    cache_size: int = 10_000
    realm: str | None = None
    http_timeout: float = 5.0
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    revocation: str = "auto"
    revocation_interval: float = 0.5

    def __post_init__(self) -> None:
        if not self.issuer or not self.resource:
            raise ValueError("issuer and resource are required")
        if self.revocation not in REVOCATION_MODES:
            raise ValueError(f"revocation must be one of {', '.join(REVOCATION_MODES)}")
        if self.revocation_interval <= 0:
            raise ValueError("revocation_interval must be positive")
        bad = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not self.algorithms:
            raise ValueError(f"Only asymmetric JWS algorithms may be allowed, got {bad or '()'}")
        if self.leeway < 0 or self.max_token_bytes <= 0 or self.cache_size < 0:
            raise ValueError("leeway, max_token_bytes and cache_size must not be negative")
        frozen = {k: tuple(v) for k, v in self.scope_implications.items()}
        object.__setattr__(self, "scope_implications", MappingProxyType(frozen))
        object.__setattr__(self, "algorithms", tuple(self.algorithms))

    @property
    def checks_revocation(self) -> bool:
        """Whether the verifier builds a revocation checker from the issuer's metadata."""
        return self.revocation != "none"

    @property
    def metadata_url(self) -> str:
        """The RFC 9728 §3.1 metadata URL named in ``resource_metadata=`` challenges."""
        return self.resource_metadata_url or well_known_url(
            self.resource, "oauth-protected-resource"
        )

    @property
    def challenge_realm(self) -> str:
        """The RFC 6750 §3 ``realm``: configured, else the resource identifier."""
        return self.realm or self.resource
