"""Quota scopes: a byte limit per user or project on a volume.

Revision ID: 0006_storage_quota_scopes
Revises: 0005_folder_rules
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_storage_quota_scopes"
down_revision: str | None = "0005_folder_rules"

SCHEMA = "storage"


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


def downgrade() -> None:
    op.drop_table("quota_scopes", schema=SCHEMA)
