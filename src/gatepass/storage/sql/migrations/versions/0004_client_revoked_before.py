"""Per-client revocation cutoffs (the kill switch) and the client change log other instances
poll to drop their cached lookups.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_cutoffs",
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("revoked_before", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_cutoffs")),
    )
    op.create_index(op.f("ix_client_cutoffs_expires_at"), "client_cutoffs", ["expires_at"])
    op.create_table(
        "client_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_changes")),
    )
    op.create_index(op.f("ix_client_changes_at"), "client_changes", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_client_changes_at"), table_name="client_changes")
    op.drop_table("client_changes")
    op.drop_index(op.f("ix_client_cutoffs_expires_at"), table_name="client_cutoffs")
    op.drop_table("client_cutoffs")
