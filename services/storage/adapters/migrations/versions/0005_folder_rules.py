"""Folder rules: usage mode, cloneable, the trash, and dot-folder names.

Revision ID: 0005_folder_rules
Revises: 0004_sharing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_folder_rules"
down_revision: str | None = "0004_sharing"

SCHEMA = "storage"
_STATUSES = "status IN ('ready', 'cloning', 'trashed', 'deleting')"


def upgrade() -> None:
    op.add_column(
        "vfolders",
        sa.Column("usage_mode", sa.String(8), nullable=False, server_default="general"),
        schema=SCHEMA,
    )
    op.add_column(
        "vfolders",
        sa.Column("cloneable", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=SCHEMA,
    )
    op.add_column("vfolders", sa.Column("trashed_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.create_check_constraint(
        "ck_vfolders_usage_mode",
        "vfolders",
        "usage_mode IN ('general', 'model', 'data')",
        schema=SCHEMA,
    )
    op.drop_constraint("ck_vfolders_status", "vfolders", schema=SCHEMA)
    op.create_check_constraint("ck_vfolders_status", "vfolders", _STATUSES, schema=SCHEMA)
    # A trashed folder gives its name back: the owner may make a new one of that name.
    op.drop_index("uq_vfolders_owner_name_live", "vfolders", schema=SCHEMA)
    op.create_index(
        "uq_vfolders_owner_name_live",
        "vfolders",
        ["owner_user_id", "name"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status NOT IN ('deleting', 'trashed')"),
    )
    op.create_index(
        "ix_vfolders_trashed_at",
        "vfolders",
        ["trashed_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'trashed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_vfolders_trashed_at", "vfolders", schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.vfolders SET status = 'ready' WHERE status <> 'deleting'")
    op.drop_index("uq_vfolders_owner_name_live", "vfolders", schema=SCHEMA)
    op.create_index(
        "uq_vfolders_owner_name_live",
        "vfolders",
        ["owner_user_id", "name"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status <> 'deleting'"),
    )
    op.drop_constraint("ck_vfolders_status", "vfolders", schema=SCHEMA)
    op.create_check_constraint(
        "ck_vfolders_status", "vfolders", "status IN ('ready', 'deleting')", schema=SCHEMA
    )
    op.drop_constraint("ck_vfolders_usage_mode", "vfolders", schema=SCHEMA)
    for column in ("trashed_at", "cloneable", "usage_mode"):
        op.drop_column("vfolders", column, schema=SCHEMA)
