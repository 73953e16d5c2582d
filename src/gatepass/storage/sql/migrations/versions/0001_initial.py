"""Initial schema: clients, secrets, signing keys, revocations, replay cache, audit events,
approval requests, billing tokens, owners, authorization codes and refresh tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(255)
EMAIL = sa.String(320)


def _clients() -> None:
    op.create_table(
        "clients",
        sa.Column("client_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("allowed_scopes", sa.JSON(), nullable=False),
        sa.Column("default_scopes", sa.JSON(), nullable=False),
        sa.Column("allowed_resources", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(64), nullable=False),
        sa.Column("jwks", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("jwks_uri", sa.Text(), nullable=True),
        sa.Column("agent_type", sa.String(64), nullable=True),
        sa.Column("owner", ID, nullable=True),
        sa.Column("tier", sa.String(64), nullable=True),
        sa.Column("trust_level", sa.Integer(), nullable=False),
        sa.Column("client_metadata", sa.JSON(), nullable=False),
        sa.Column("registration_token_digest", sa.String(255), nullable=True),
        sa.Column("registration_fingerprint", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_clients")),
    )
    op.create_index(op.f("ix_clients_owner"), "clients", ["owner"])
    op.create_index(
        op.f("ix_clients_registration_token_digest"), "clients", ["registration_token_digest"]
    )
    op.create_index(
        op.f("ix_clients_registration_fingerprint"), "clients", ["registration_fingerprint"]
    )
    op.create_table(
        "client_secrets",
        sa.Column("secret_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("digest", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("secret_id", name=op.f("pk_client_secrets")),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_client_secrets_client_id_clients"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_client_secrets_client_id"), "client_secrets", ["client_id"])


def _keys_and_tokens() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", ID, nullable=False),
        sa.Column("alg", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_jwk_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("state_changed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", ID, nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"])
    op.create_index(op.f("ix_revoked_tokens_revoked_at"), "revoked_tokens", ["revoked_at"])
    op.create_table(
        "replay_cache",
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_replay_cache")),
    )
    op.create_index(op.f("ix_replay_cache_expires_at"), "replay_cache", ["expires_at"])


def _audit() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("event", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("client_id", ID, nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", ID, nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_events_event_id")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    op.create_index(
        op.f("ix_audit_events_client_id_event_at"), "audit_events", ["client_id", "event", "at"]
    )


def _approvals_and_billing() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("request_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("granted", sa.JSON(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_approval_requests")),
    )
    op.create_index(op.f("ix_approval_requests_client_id"), "approval_requests", ["client_id"])
    op.create_index(op.f("ix_approval_requests_status"), "approval_requests", ["status"])
    op.create_table(
        "billing_tokens",
        sa.Column("token_id", ID, nullable=False),
        sa.Column("digest", sa.String(255), nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_billing_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_billing_tokens_digest")),
    )
    op.create_index(op.f("ix_billing_tokens_account_id"), "billing_tokens", ["account_id"])


def _owners_and_grants() -> None:
    op.create_table(
        "owners",
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("email_key", EMAIL, nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("is_operator", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_owners")),
        sa.UniqueConstraint("email_key", name=op.f("uq_owners_email_key")),
    )
    op.create_table(
        "authorization_codes",
        sa.Column("code_digest", sa.String(255), nullable=False),
        sa.Column("grant_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("code_challenge", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("code_digest", name=op.f("pk_authorization_codes")),
    )
    op.create_index(
        op.f("ix_authorization_codes_expires_at"), "authorization_codes", ["expires_at"]
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_digest", sa.String(255), nullable=False),
        sa.Column("grant_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("token_digest", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(op.f("ix_refresh_tokens_grant_id"), "refresh_tokens", ["grant_id"])
    op.create_index(op.f("ix_refresh_tokens_expires_at"), "refresh_tokens", ["expires_at"])


def upgrade() -> None:
    _clients()
    _keys_and_tokens()
    _audit()
    _approvals_and_billing()
    _owners_and_grants()


def downgrade() -> None:
    for table in (
        "refresh_tokens",
        "authorization_codes",
        "owners",
        "billing_tokens",
        "approval_requests",
        "audit_events",
        "replay_cache",
        "revoked_tokens",
        "signing_keys",
        "client_secrets",
        "clients",
    ):
        op.drop_table(table)
