"""The one settings model: TOML file (``--config``), secrets directory, ``GATEPASS_*`` environment.

Priority from lowest to highest: defaults, TOML file, secrets directory, environment, explicit
arguments. Secrets are ``SecretStr``; the issuer is configured, never derived from a Host header.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gatepass.ratelimit.policy import MOVING_WINDOW_MAX
from gatepass.scopes import DEFAULT_SCOPES

__all__ = ["AgentSettings", "AttestationIssuerSetting", "ScopeSetting", "Settings", "load_settings"]

SigningAlg = Literal["ES256", "RS256", "Ed25519"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
DATABASE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgres", "postgresql", "postgresql+psycopg")


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
        False, description="Operator clients only (`clients create --operator`), never through "
                           "the authorization endpoint; never advertised"
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
        5, ge=1, le=MOVING_WINDOW_MAX,
        description="Registrations per client address per hour (fails closed; a moving window "
        "that stores each registration, hence the bound)",
    )
    registrations_per_account_per_day: int = Field(
        50, ge=1, le=MOVING_WINDOW_MAX,
        description="Registrations per billing account per day (moving window, bounded as above)",
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
    dedup_window: float = Field(
        600.0, ge=0, description="A repeated registration within it is 409, naming the client (s)"
    )
    attestation_issuers: list[AttestationIssuerSetting] = Field(
        default_factory=list, description="Trusted software-statement issuers (raise trust)"
    )
    initial_access_token: SecretStr | None = Field(
        None, description="If set, RFC 7591 registration requires it as a bearer token"
    )

    @field_validator("tos_url", "documentation_url")
    @classmethod
    def _path_or_url(cls, v: str) -> str:
        if not v.startswith("/") and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("must be a path on this server (/...) or an http(s) URL")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP network: {cidr!r}") from exc
        return v

    @field_validator("billing_options")
    @classmethod
    def _options(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        if any(not {"type", "endpoint"} <= option.keys() for option in v):
            raise ValueError("each billing option needs a type and an endpoint")
        return v

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
    http_parser: Literal["h11", "httptools"] = Field(
        "h11", description="HTTP/1.1 parser of `serve`: h11 enforces http_max_header_bytes; "
        "httptools is faster but caps nothing (keep a reverse proxy in front)"
    )
    http_max_header_bytes: int = Field(
        16_384, ge=4096, le=1_048_576, description="`serve` (h11): a request whose head is still "
        "incomplete past this many bytes is refused with 400"
    )
    http_keep_alive_timeout: int = Field(
        5, ge=1, le=300, description="`serve`: an idle keep-alive connection is closed after (s)"
    )
    database_timeout: float = Field(
        5.0, gt=0, description="PostgreSQL statement timeout, SQLite busy timeout (s)"
    )
    request_deadline: float = Field(
        10.0, gt=0, description="Requests unanswered by then get 503 with Retry-After (s)"
    )
    body_read_timeout: float = Field(
        5.0, gt=0, description="A request body not received by then gets 408 (s)"
    )
    assertion_max_lifetime: int = Field(
        3600, ge=10, description="Longest exp - now accepted for client assertions (s); "
        "Authlib and others default to one hour"
    )
    assertion_algorithms: list[str] = Field(
        default_factory=lambda: ["ES256", "ES384", "RS256", "PS256", "Ed25519"],
        description="Algorithms accepted for private_key_jwt client assertions",
    )
    jwks_fetch_timeout: float = Field(
        3.0, gt=0, description="Total deadline of one fetch of a client's jwks_uri or metadata "
        "document (s): DNS, connecting and the whole body, not per read"
    )
    fetch_per_host: int = Field(
        4, ge=1, description="Fetches of client URLs in flight to one address, per purpose"
    )
    fetch_pool_size: int = Field(
        20, ge=1, description="Connections of each outbound pool (jwks_uri, metadata documents)"
    )
    fetch_failure_ttl: float = Field(
        15.0, ge=0, description="A client URL whose fetch failed is not fetched again for (s)"
    )
    url_client_requests_per_ip_per_minute: int = Field(
        60, ge=1, description="Token/introspection/revocation requests naming a URL client_id "
        "(which may fetch its metadata document) per client address per minute (10 per second)"
    )
    auth_failures_per_client_per_minute: int = Field(
        10, ge=1, description="Failed client authentications per client_id and client address "
        "per minute before 429"
    )
    auth_failures_per_ip_per_minute: int = Field(
        30, ge=1, description="Failed client authentications per client address per minute "
        "before 429"
    )
    audit_flush_interval: float = Field(0.2, gt=0, description="Audit batch flush interval (s)")
    audit_dead_letter_path: Path | None = Field(
        None, description="JSON-lines file for audit events the database refuses, and for those "
        "it could not take at shutdown (default: data_dir/audit-dead-letter.jsonl)")
    demo_client: bool | None = Field(
        None, description="Create a demo client (the catalog's non-internal scopes) on first "
        "start; unset: only in development mode, where its secret and a demo billing token "
        "are printed"
    )
    demo_api: bool | None = Field(
        None, description="Mount the guide's demo API at /api (resource: the default audience); "
        "unset: only in development mode"
    )
    agents: AgentSettings = Field(
        default_factory=AgentSettings, description="Agent self-registration and trust"
    )
    log_level: LogLevel = Field("INFO", description="Log level of the server process (JSON lines)")
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that `GET /metrics` requires; unset, /metrics answers "
        "404 outside development mode"
    )

    @field_validator("key_encryption_keys")
    @classmethod
    def _fernet_keys(cls, v: list[SecretStr]) -> list[SecretStr]:
        for number, key in enumerate(v, 1):
            try:
                Fernet(key.get_secret_value())
            except ValueError as exc:  # the key itself is never echoed
                raise ValueError(f"key {number} is not a Fernet key (32 url-safe base64 bytes; "
                                 "generate one with Fernet.generate_key())") from exc
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, v: str) -> str:
        scheme = v.split("://", 1)[0] if "://" in v else ""
        if v != "memory://" and scheme not in DATABASE_SCHEMES:
            raise ValueError(f"database_url must be memory:// or a {', '.join(DATABASE_SCHEMES)} "
                             "URL")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v == "":  # an empty variable (GATEPASS_REDIS_URL=) means none
            return None
        if v is not None and v.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL")
        return v

    @model_validator(mode="after")
    def _demo_follows_development(self) -> Settings:
        """The demo client and API exist only in development mode unless set explicitly."""
        if self.demo_client is None:
            self.demo_client = self.development
        if self.demo_api is None:
            self.demo_api = self.development
        return self

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
