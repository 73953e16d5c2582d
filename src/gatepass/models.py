"""Domain records shared by the core, the stores and the toolkits (frozen, typed, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AgentType",
    "ApprovalRequest",
    "AuditEvent",
    "AuthorizationCode",
    "BillingToken",
    "Client",
    "ClientSecret",
    "ClientStatus",
    "ConsoleSession",
    "KeyState",
    "Owner",
    "Principal",
    "RefreshToken",
    "ScopeDef",
    "SigningKey",
]

ClientStatus = Literal["active", "disabled", "suspended", "pending"]
AgentType = Literal["autonomous", "supervised", "tool"]
KeyState = Literal["next", "current", "previous", "retired"]
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]


@dataclass(frozen=True, slots=True)
class ScopeDef:
    """One scope of the catalog: its name, what it allows, and the flags later features use."""

    name: str
    description: str = ""
    requires_approval: bool = False
    min_tier: str | None = None
    min_trust: int = 0
    internal: bool = False


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OAuth client (an agent is a client with ``agent_type`` set).

    ``allowed_scopes`` is the ceiling the client may request; ``default_scopes`` is what it gets
    when it asks for none. ``allowed_resources`` lists the RFC 8707 resources (token audiences)
    it may request; empty means the server's default audience and its configured resources.
    ``operator`` marks a client the operator created as such (``clients create --operator``):
    only those hold internal scopes.
    """

    client_id: str
    name: str
    created_at: float
    status: ClientStatus = "active"
    allowed_scopes: tuple[str, ...] = ()
    default_scopes: tuple[str, ...] = ()
    allowed_resources: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("client_credentials",)
    token_endpoint_auth_method: str = "client_secret_basic"
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    agent_type: str | None = None
    owner: str | None = None
    tier: str | None = None
    trust_level: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    registration_token_digest: str | None = None
    registration_fingerprint: str | None = None
    operator: bool = False

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def uses_private_key_jwt(self) -> bool:
        return self.token_endpoint_auth_method == "private_key_jwt"


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """A client secret as stored: only its keyed digest (HMAC-SHA256 with the server pepper)."""

    secret_id: str
    client_id: str
    digest: str
    created_at: float
    expires_at: float | None = None

    def is_valid_at(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A signing key: its public JWK (published) and its private JWK encrypted at rest."""

    kid: str
    alg: str
    state: KeyState
    public_jwk: Mapping[str, Any]
    private_jwk_encrypted: bytes
    created_at: float
    state_changed_at: float


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited decision: what happened, to which client, and why. Never holds a secret."""

    event: str
    outcome: Literal["success", "failure"]
    at: float
    client_id: str | None = None
    scopes: tuple[str, ...] = ()
    reason: str | None = None
    actor: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling a protected API, as established from a verified access token."""

    client_id: str
    subject: str
    scopes: frozenset[str]
    issuer: str
    audience: tuple[str, ...]
    expires_at: float
    token_id: str | None = None
    owner: str | None = None
    agent_type: str | None = None
    tier: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_agent(self) -> bool:
        return self.agent_type is not None

    def has_scopes(self, *required: str) -> bool:
        return all(s in self.scopes for s in required)


ApprovalStatus = Literal["pending", "approved", "denied"]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """Scopes an agent asked for that wait for its owner's decision."""

    request_id: str
    client_id: str
    scopes: tuple[str, ...]
    created_at: float
    status: ApprovalStatus = "pending"
    granted: tuple[str, ...] = ()
    decided_at: float | None = None
    decided_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BillingToken:
    """A prepaid billing token the operator issued, stored as a keyed digest.

    ``max_uses`` None means reusable without limit (per account); ``uses`` counts registrations.
    """

    token_id: str
    digest: str
    tier: str
    account_id: str
    created_at: float
    max_uses: int | None = 1
    uses: int = 0
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Owner:
    """A human who owns agents: logs in to the console and consents in the browser flow.

    ``password_hash`` is an Argon2id hash; ``is_operator`` gives the global view.
    """

    owner_id: str
    email: str
    password_hash: str
    created_at: float
    is_operator: bool = False
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """An owner's signed-in console session, stored by the SHA-256 of its random identifier
    (the cookie holds the identifier); ended by deleting it, at ``expires_at`` at the latest."""

    digest: str
    owner_id: str
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """An authorization code (RFC 6749 §4.1), stored as a digest, bound to client, redirect URI,
    PKCE challenge (RFC 7636, S256) and resources. ``grant_id`` ties the code to every token
    issued from it, so a replay can revoke them all."""

    code_digest: str
    grant_id: str
    client_id: str
    owner_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    created_at: float
    expires_at: float
    resources: tuple[str, ...] = ()
    used_at: float | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A refresh token (stored as a digest) of one grant; rotated on every use."""

    token_digest: str
    grant_id: str
    client_id: str
    owner_id: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float
    resources: tuple[str, ...] = ()
    used_at: float | None = None
    revoked: bool = False
