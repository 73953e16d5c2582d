"""What the protocol core needs to know from settings, as one frozen value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatepass.models import ScopeDef

__all__ = ["AgentPolicy", "AttestationIssuer", "ServerConfig"]


@dataclass(frozen=True, slots=True)
class AttestationIssuer:
    """A trusted agent-framework issuer of software statements (RFC 7591 §2.3)."""

    issuer: str
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    trust_level: int = 1
    name: str = ""


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    """Self-registration rules: terms, billing, tiers, trust levels and their promotion rules."""

    tos_url: str = "/terms/agent-tos"
    tos_version: str = "2026-02-01"
    documentation_url: str = "/llms.txt"
    billing_options: tuple[Mapping[str, str], ...] = (
        {"type": "prepaid", "endpoint": "/api/v1/billing/prepaid"},
    )
    free_tier: str | None = None
    tier_order: tuple[str, ...] = ("agent_free", "agent_standard", "agent_premium")
    rate_limits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    trust_levels: tuple[str, ...] = ("new", "established", "trusted")
    promotion_min_age: tuple[float, ...] = (0.0, 86_400.0, 30 * 86_400.0)
    promotion_min_tokens: tuple[int, ...] = (0, 100, 10_000)
    secret_grace: float = 86_400.0
    secret_ttl: float = 0.0
    dedup_window: float = 600.0
    account_registrations_per_day: int = 50
    attestation_issuers: tuple[AttestationIssuer, ...] = ()
    development: bool = False

    @property
    def max_trust(self) -> int:
        return len(self.trust_levels) - 1

    def tier_rank(self, tier: str | None) -> int:
        return self.tier_order.index(tier) if tier in self.tier_order else -1


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Issuer, endpoints, lifetimes and catalogs the core decides with."""

    issuer: str
    scopes: tuple[ScopeDef, ...]
    access_token_ttl: int = 3600
    default_audience: str | None = None
    resources: tuple[str, ...] = ()
    assertion_max_lifetime: int = 3600
    assertion_algorithms: tuple[str, ...] = ("ES256", "ES384", "RS256", "PS256", "Ed25519")
    client_cache_ttl: float = 5.0
    client_sync_interval: float = 0.5  # bound on a client change reaching other instances
    token_path: str = "/oauth/token"
    introspection_path: str = "/oauth/introspect"
    revocation_path: str = "/oauth/revoke"
    jwks_path: str = "/.well-known/jwks.json"
    extra_metadata: dict[str, object] = field(default_factory=dict)
    agents: AgentPolicy = field(default_factory=AgentPolicy)
    signing_alg: str = "ES256"
    jwks_max_age: int = 300
    registration_path: str = "/oauth/register"
    agent_registration_path: str = "/api/v1/agents/register"
    _scope_index: Mapping[str, ScopeDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scope_index", {s.name: s for s in reversed(self.scopes)})

    @property
    def token_endpoint(self) -> str:
        return self.issuer + self.token_path

    @property
    def audience(self) -> str:
        return self.default_audience or self.issuer

    def scope(self, name: str) -> ScopeDef | None:
        """The catalog entry named ``name`` (the first, should two share a name)."""
        return self._scope_index.get(name)
