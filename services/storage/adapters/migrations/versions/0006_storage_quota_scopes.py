"""Quota scopes (a byte limit per user or project on a volume), folder tasks (clones) and the
`performing` status of a folder a clone is filling.

Revision ID: 0006_storage_quota_scopes
Revises: 0005_folder_rules
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_storage_quota_scopes"
down_revision: str | None = "0005_folder_rules"

SCHEMA = "storage"
_STATUSES = "status IN ('ready', 'cloning', 'trashed', 'deleting', 'performing')"
_OLD_STATUSES = "status IN ('ready', 'cloning', 'trashed', 'deleting')"


def upgrade() -> None:
    op.create_table(
        "quota_scopes",
        sa.Column("volume", sa.String(64), primary_key=True),
        sa.Column("scope_id", sa.String(80), primary_key=True),
        sa.Column("limit_bytes", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("limit_bytes >= 0", name="ck_quota_scopes_limit"),
        schema=SCHEMA,
    )
    op.create_table(
        "vfolder_tasks",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("source_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("target_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("bytes_copied", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("files_copied", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("error", sa.String(1024), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('running', 'done', 'failed')", name="ck_vfolder_tasks_state"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_vfolder_tasks_running",
        "vfolder_tasks",
        ["created_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.drop_constraint("ck_vfolders_status", "vfolders", schema=SCHEMA)
    op.create_check_constraint("ck_vfolders_status", "vfolders", _STATUSES, schema=SCHEMA)


def downgrade() -> None:
    op.drop_constraint("ck_vfolders_status", "vfolders", schema=SCHEMA)
    op.create_check_constraint("ck_vfolders_status", "vfolders", _OLD_STATUSES, schema=SCHEMA)
    op.drop_table("vfolder_tasks", schema=SCHEMA)
    op.drop_table("quota_scopes", schema=SCHEMA)
