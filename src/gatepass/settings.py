"""The one settings model: TOML file (``--config``), secrets directory, ``GATEPASS_*`` environment.

Priority from lowest to highest: defaults, TOML file, secrets directory, environment, explicit
arguments. Secrets are ``SecretStr``; the issuer is configured, never derived from a Host header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gatepass.scopes import DEFAULT_SCOPES

__all__ = ["AgentSettings", "AttestationIssuerSetting", "ScopeSetting", "Settings", "load_settings"]

SigningAlg = Literal["ES256", "RS256", "Ed25519"]


class ScopeSetting(BaseModel):
    """One scope of the catalog."""

    name: str = Field(description="Scope token clients request (RFC 6749 §3.3), e.g. read:projects")
    description: str = Field(
        "", description="What it allows: shown on the consent page, in llms.txt and the console"
    )
    requires_approval: bool = Field(
        False, description="Granted only once an owner approves it (pending until then)"
    )
    min_tier: str | None = Field(
        None, description="Lowest billing tier that may hold it; clients without a tier pass"
    )
    min_trust: int = Field(0, description="Lowest trust level (index in agents.trust_levels)")
    internal: bool = Field(
        False, description="Operator clients only (top trust level); never advertised"
    )


class AttestationIssuerSetting(BaseModel):
    """A trusted agent-framework issuer of software statements."""

    issuer: str = Field(description="The iss of the software statements it signs (RFC 7591 §2.3)")
    jwks: dict[str, Any] | None = Field(None, description="Its public keys, inline (JWKS)")
    jwks_uri: str | None = Field(
        None, description="Where its JWKS is fetched (SSRF-guarded) when jwks is unset"
    )
    trust_level: int = Field(1, description="Starting trust level of agents it vouches for")
    name: str = Field("", description="Label for operators (not read by the server today)")


class AgentSettings(BaseModel):
    """Self-registration: terms, billing, abuse gates, trust levels."""

    tos_url: str = Field("/terms/agent-tos", description="Terms of service for agents")
    tos_version: str = Field(
        "2026-02-01", description="Terms version named in tos_required answers (not checked)"
    )
    documentation_url: str = Field("/llms.txt", description="Where agents read how to use us")
    free_tier: str | None = Field(None, description="Tier given without billing (None: pay)")
    billing_webhook_url: str | None = Field(
        None, description="POSTed {billing_token}; answers {valid, tier, account_id}"
    )
    billing_webhook_timeout: float = Field(
        3.0, description="Billing webhook timeout (s); a timeout answers 503"
    )
    billing_options: list[dict[str, str]] = Field(
        default_factory=lambda: [{"type": "prepaid", "endpoint": "/api/v1/billing/prepaid"}],
        description="Ways to pay listed in 402 billing_required answers",
    )
    registrations_per_ip_per_hour: int = Field(
        5, ge=1, description="Registrations per client address per hour (fails closed)"
    )
    registrations_per_account_per_day: int = Field(
        50, ge=1, description="Registrations per billing account per day"
    )
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs setting XFF")
    trust_levels: list[str] = Field(
        default_factory=lambda: ["new", "established", "trusted"],
        description="Trust level names, lowest first (a level is an index)",
    )
    promotion_min_age: list[float] = Field(
        default_factory=lambda: [0.0, 86_400.0, 2_592_000.0],
        description="Per level: agent age (s) needed for automatic promotion to it",
    )
    promotion_min_tokens: list[int] = Field(
        default_factory=lambda: [0, 100, 10_000],
        description="Per level: tokens issued needed for automatic promotion to it",
    )
    secret_rotation_grace: float = Field(86_400.0, ge=0, description="Old secret stays valid (s)")
    dedup_window: float = Field(600.0, ge=0, description="Identical registrations merge (s)")
    attestation_issuers: list[AttestationIssuerSetting] = Field(
        default_factory=list, description="Trusted software-statement issuers (raise trust)"
    )
    initial_access_token: SecretStr | None = Field(
        None, description="If set, RFC 7591 registration requires it as a bearer token"
    )

    @model_validator(mode="after")
    def _one_rule_per_trust_level(self) -> AgentSettings:
        levels = len(self.trust_levels)
        if not levels or len(self.promotion_min_age) != levels or len(
                self.promotion_min_tokens) != levels:
            raise ValueError("trust_levels, promotion_min_age and promotion_min_tokens must be "
                             "non-empty lists of the same length (one entry per level)")
        return self


def _default_catalog() -> list[ScopeSetting]:
    return [
        ScopeSetting(
            name=s.name,
            description=s.description,
            requires_approval=s.requires_approval,
            min_tier=s.min_tier,
            min_trust=s.min_trust,
            internal=s.internal,
        )
        for s in DEFAULT_SCOPES
    ]


class Settings(BaseSettings):
    """Gatepass server settings."""

    model_config = SettingsConfigDict(
        env_prefix="GATEPASS_", extra="forbid", env_nested_delimiter="__", validate_default=True
    )

    issuer: str = Field(
        "http://127.0.0.1:8000", description="Issuer identifier (RFC 8414 §2): https URL, no query"
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///gatepass.db",
        description="SQLAlchemy URL: SQLite file by default, postgresql+psycopg://… in production",
    )
    data_dir: Path = Field(
        Path(".gatepass"), description="Where generated local secrets live (when not configured)"
    )
    redis_url: str | None = Field(None, description="Redis for shared revocation and replay state")
    development: bool = Field(False, description="Allow http/loopback URLs (never in production)")
    access_token_ttl: int = Field(3600, ge=60, le=86400, description="Access-token lifetime (s)")
    default_audience: str | None = Field(
        None, description="Token audience when no `resource` is requested (default: the issuer)"
    )
    resources: list[str] = Field(
        default_factory=list, description="Resource indicators (RFC 8707) clients may request"
    )
    scopes: list[ScopeSetting] = Field(
        default_factory=_default_catalog, description="The scope catalog (replaces the built-in)"
    )
    signing_alg: SigningAlg = Field("ES256", description="Algorithm of newly generated keys")
    key_encryption_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Fernet keys encrypting private keys at rest; first one encrypts (MultiFernet)",
    )
    secret_pepper: SecretStr | None = Field(
        None, description="HMAC key for client-secret digests (generated on first start if unset)"
    )
    jwks_max_age: int = Field(300, ge=0, description="Cache-Control max-age of the JWKS (s)")
    key_reload_interval: float = Field(10.0, gt=0, description="How often keys are re-read (s)")
    client_cache_ttl: float = Field(5.0, ge=0, description="Client lookup cache lifetime (s)")
    client_sync_interval: float = Field(
        0.5, gt=0, le=5,
        description="How often instances poll the SQL client change log (s); with Redis, changes "
        "also arrive by pub/sub at once. A suspension waits twice this before it returns")
    max_body_bytes: int = Field(16_384, ge=1024, description="Cap on request bodies (bytes)")
    assertion_max_lifetime: int = Field(
        3600, ge=10, description="Longest exp - now accepted for client assertions (s); "
        "Authlib and others default to one hour"
    )
    assertion_algorithms: list[str] = Field(
        default_factory=lambda: ["ES256", "ES384", "RS256", "PS256", "Ed25519"],
        description="Algorithms accepted for private_key_jwt client assertions",
    )
    jwks_fetch_timeout: float = Field(3.0, gt=0, description="Timeout fetching a client's jwks_uri")
    audit_flush_interval: float = Field(0.2, gt=0, description="Audit batch flush interval (s)")
    audit_dead_letter_path: Path | None = Field(
        None, description="JSON-lines file for audit events the database refuses, and for those "
        "it could not take at shutdown (default: data_dir/audit-dead-letter.jsonl)")
    demo_client: bool = Field(True, description="Create a demo client on first start")
    demo_api: bool = Field(
        True, description="Mount the guide's demo API at /api (resource: the default audience)"
    )
    agents: AgentSettings = Field(
        default_factory=AgentSettings, description="Agent self-registration and trust"
    )
    log_level: str = Field("INFO", description="Log level of the server process (JSON lines)")

    @field_validator("issuer")
    @classmethod
    def _issuer_shape(cls, v: str) -> str:
        if "?" in v or "#" in v:
            raise ValueError("issuer must not contain a query or fragment (RFC 8414 §2)")
        parts = urlsplit(v)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("issuer must be an https URL (http only on loopback, RFC 8414 §2)")
        return v.rstrip("/")

    def masked(self) -> dict[str, Any]:
        """Settings as JSON-able data with secrets (and any database password) masked."""
        data = self.model_dump(mode="json")
        for name in ("database_url", "redis_url"):
            url = urlsplit(data[name] or "")
            if url.password:
                netloc = url.netloc.replace(f":{url.password}@", ":**********@")
                data[name] = url._replace(netloc=netloc).geturl()
        return data

    @property
    def audience(self) -> str:
        return self.default_audience or self.issuer

    def endpoint(self, path: str) -> str:
        """Absolute URL of a server path under the issuer."""
        return self.issuer + path

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls)
        return (init_settings, env_settings, file_secret_settings, toml)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional TOML file, the environment and ``overrides``."""
    if config is None:
        return Settings(**overrides)
    if not config.is_file():
        raise FileNotFoundError(f"config file not found: {config}")
    conf = SettingsConfigDict(**{**Settings.model_config, "toml_file": config})
    bound = type("Settings", (Settings,), {"model_config": conf})
    return bound(**overrides)  # type: ignore[no-any-return]
