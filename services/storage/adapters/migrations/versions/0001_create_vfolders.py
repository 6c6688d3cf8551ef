"""Create storage.vfolders.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None

SCHEMA = "storage"


def upgrade() -> None:
    op.create_table(
        "vfolders",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner_user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("volume", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('ready', 'deleting')", name="ck_vfolders_status"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_vfolders_owner_name_live",
        "vfolders",
        ["owner_user_id", "name"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status <> 'deleting'"),
    )
    op.create_index(
        "ix_vfolders_owner_created_at_id",
        "vfolders",
        ["owner_user_id", "created_at", "id"],
        schema=SCHEMA,
    )
    op.create_index("ix_vfolders_created_at_id", "vfolders", ["created_at", "id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("vfolders", schema=SCHEMA)
