"""What the protocol core needs to know from settings, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field

from gatepass.models import ScopeDef

__all__ = ["ServerConfig"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Issuer, endpoints, lifetimes and catalogs the core decides with."""

    issuer: str
    scopes: tuple[ScopeDef, ...]
    access_token_ttl: int = 3600
    default_audience: str | None = None
    resources: tuple[str, ...] = ()
    assertion_max_lifetime: int = 300
    assertion_algorithms: tuple[str, ...] = ("ES256", "ES384", "RS256", "PS256", "Ed25519")
    client_cache_ttl: float = 5.0
    token_path: str = "/oauth/token"
    introspection_path: str = "/oauth/introspect"
    revocation_path: str = "/oauth/revoke"
    jwks_path: str = "/.well-known/jwks.json"
    extra_metadata: dict[str, object] = field(default_factory=dict)

    @property
    def token_endpoint(self) -> str:
        return self.issuer + self.token_path

    @property
    def audience(self) -> str:
        return self.default_audience or self.issuer

    def scope(self, name: str) -> ScopeDef | None:
        return next((s for s in self.scopes if s.name == name), None)
