"""Record each folder's domain and (for project folders) project, for scoped access.

Revision ID: 0002_enforce
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_enforce"
down_revision: str | None = "0001"

SCHEMA = "storage"


def upgrade() -> None:
    op.add_column(
        "vfolders",
        sa.Column("domain_name", sa.String(64), nullable=False, server_default=""),
        schema=SCHEMA,
    )
    op.add_column("vfolders", sa.Column("project_id", sa.String(64)), schema=SCHEMA)
    op.create_index(
        "ix_vfolders_domain_created_at_id",
        "vfolders",
        ["domain_name", "created_at", "id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_vfolders_project_id",
        "vfolders",
        ["project_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("project_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_vfolders_project_id", "vfolders", schema=SCHEMA)
    op.drop_index("ix_vfolders_domain_created_at_id", "vfolders", schema=SCHEMA)
    op.drop_column("vfolders", "project_id", schema=SCHEMA)
    op.drop_column("vfolders", "domain_name", schema=SCHEMA)
