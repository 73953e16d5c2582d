"""Registration dedup: one client per registration fingerprint (a unique index), so identical
concurrent registrations create one client, on any number of instances.

Older clients that share a fingerprint keep only the newest one's; the others lose theirs (their
dedup window has passed, or they were the duplicates this index now prevents).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_clients_registration_fingerprint"


def upgrade() -> None:
    op.execute(
        "UPDATE clients SET registration_fingerprint = NULL "
        "WHERE registration_fingerprint IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM clients AS newer "
        "WHERE newer.registration_fingerprint = clients.registration_fingerprint "
        "AND (newer.created_at > clients.created_at OR (newer.created_at = clients.created_at "
        "AND newer.client_id > clients.client_id)))"
    )
    op.drop_index(INDEX, table_name="clients")
    op.create_index(INDEX, "clients", ["registration_fingerprint"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="clients")
    op.create_index(INDEX, "clients", ["registration_fingerprint"], unique=False)
