"""SQLAlchemy Core tables of the SQL backend; ``migrations/versions`` must stay in step with them.

Times are epoch seconds (double precision), like ``models``. Tuples and mappings are JSON.
Constraint and index names come from the naming convention, so migrations can refer to them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

__all__ = [
    "NAMING_CONVENTION",
    "approval_requests",
    "audit_events",
    "authorization_codes",
    "billing_tokens",
    "client_changes",
    "client_cutoffs",
    "client_secrets",
    "clients",
    "console_sessions",
    "metadata",
    "owners",
    "refresh_tokens",
    "replay_cache",
    "revoked_tokens",
    "signing_keys",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(255)
EMAIL = String(320)
_BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only

clients = Table(
    "clients",
    metadata,
    Column("client_id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("status", String(32), nullable=False),
    Column("allowed_scopes", JSON, nullable=False),
    Column("default_scopes", JSON, nullable=False),
    Column("allowed_resources", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("token_endpoint_auth_method", String(64), nullable=False),
    Column("jwks", JSON(none_as_null=True), nullable=True),
    Column("jwks_uri", Text, nullable=True),
    Column("agent_type", String(64), nullable=True),
    Column("owner", ID, nullable=True, index=True),
    Column("tier", String(64), nullable=True),
    Column("trust_level", Integer, nullable=False),
    Column("client_metadata", JSON, nullable=False),
    Column("registration_token_digest", String(255), nullable=True, index=True),
    Column("registration_fingerprint", String(255), nullable=True, index=True, unique=True),
    Column("operator", Boolean, nullable=False, server_default=false()),
)

client_secrets = Table(
    "client_secrets",
    metadata,
    Column("secret_id", ID, primary_key=True),
    Column(
        "client_id",
        ID,
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("digest", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", ID, primary_key=True),
    Column("alg", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("private_jwk_encrypted", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("state_changed_at", Float, nullable=False),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", ID, primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
    Column("revoked_at", Float, nullable=False, index=True),
)

client_cutoffs = Table(
    "client_cutoffs",
    metadata,
    Column("client_id", ID, primary_key=True),  # no foreign key: outlives a deleted client
    Column("revoked_before", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

client_changes = Table(
    "client_changes",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("client_id", ID, nullable=False),
    Column("at", Float, nullable=False, index=True),
)

replay_cache = Table(
    "replay_cache",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=True, unique=True),
    Column("event", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("at", Float, nullable=False, index=True),
    Column("client_id", ID, nullable=True),
    Column("scopes", JSON, nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor", ID, nullable=True),
    Column("details", JSON, nullable=False),
    # Serves ``recent(client_id=...)`` (leading column) and the trust rules' ``count``/``find``.
    Index("ix_audit_events_client_id_event_at", "client_id", "event", "at"),
)

# History of owner decisions: no foreign key, so a request outlives a deleted client.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("request_id", ID, primary_key=True),
    Column("client_id", ID, nullable=False, index=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("granted", JSON, nullable=False),
    Column("decided_at", Float, nullable=True),
    Column("decided_by", ID, nullable=True),
    Column("reason", Text, nullable=True),
)

billing_tokens = Table(
    "billing_tokens",
    metadata,
    Column("token_id", ID, primary_key=True),
    Column("digest", String(255), nullable=False, unique=True),
    Column("tier", String(64), nullable=False),
    Column("account_id", ID, nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("max_uses", Integer, nullable=True),
    Column("uses", Integer, nullable=False),
    Column("expires_at", Float, nullable=True),
)

# ``email`` keeps what the owner typed (for display); ``email_key`` is ``base.email_key(email)``
# (lower-cased), unique, and what lookups compare.
owners = Table(
    "owners",
    metadata,
    Column("owner_id", ID, primary_key=True),
    Column("email", EMAIL, nullable=False),
    Column("email_key", EMAIL, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("is_operator", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
)

# Codes and refresh tokens: no foreign keys (like approvals), so grants never block deleting a
# client or an owner; ``expires_at`` is indexed for ``purge_expired``.
authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_digest", String(255), primary_key=True),
    Column("grant_id", ID, nullable=False),
    Column("client_id", ID, nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("code_challenge", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("resources", JSON, nullable=False),
    Column("used_at", Float, nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_digest", String(255), primary_key=True),
    Column("grant_id", ID, nullable=False, index=True),
    Column("client_id", ID, nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("resources", JSON, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("revoked", Boolean, nullable=False),
)

# Console sessions (0002): the cookie names a session by a random id; the row is keyed by its
# SHA-256. ``owner_id`` is indexed to end every session of an owner at once.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_digest", String(255), primary_key=True),
    Column("owner_id", ID, nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)
