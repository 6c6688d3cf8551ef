"""Add storage.vfolders.permission: how sessions mount a folder (rw or ro).

Revision ID: 0003_sandbox_permission
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sandbox_permission"
down_revision: str | None = "0002_enforce"

SCHEMA = "storage"


def upgrade() -> None:
    op.add_column(
        "vfolders",
        sa.Column("permission", sa.String(2), nullable=False, server_default="rw"),
        schema=SCHEMA,
    )
    op.create_check_constraint(
        "ck_vfolders_permission", "vfolders", "permission IN ('rw', 'ro')", schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_constraint("ck_vfolders_permission", "vfolders", schema=SCHEMA)
    op.drop_column("vfolders", "permission", schema=SCHEMA)
