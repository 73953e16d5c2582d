"""Operator clients: ``clients.operator`` marks the clients that may hold internal scopes.

Existing clients an operator created (no registration access token, no ``agent_type``: the CLI,
the console, the first start) become operator clients; self-registered ones do not.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("operator", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    clients = sa.table("clients", sa.column("operator", sa.Boolean()),
                       sa.column("registration_token_digest", sa.String(255)),
                       sa.column("agent_type", sa.String(64)))
    op.execute(clients.update()
               .where(clients.c.registration_token_digest.is_(None),
                      clients.c.agent_type.is_(None))
               .values(operator=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("operator")
