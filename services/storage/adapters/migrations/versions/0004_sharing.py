"""Sharing: per-user permissions on folders, invitations, and the `wd` permission.

Revision ID: 0004_sharing
Revises: 0003_sandbox_permission
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sharing"
down_revision: str | None = "0003_sandbox_permission"

SCHEMA = "storage"
_PERMISSIONS = "permission IN ('rw', 'ro', 'wd')"


def upgrade() -> None:
    op.drop_constraint("ck_vfolders_permission", "vfolders", schema=SCHEMA)
    op.create_check_constraint("ck_vfolders_permission", "vfolders", _PERMISSIONS, schema=SCHEMA)
    op.create_table(
        "vfolder_permissions",
        sa.Column(
            "vfolder_id",
            sa.Uuid(as_uuid=False),
            sa.ForeignKey(f"{SCHEMA}.vfolders.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("permission", sa.String(2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_PERMISSIONS, name="ck_vfolder_permissions_permission"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_vfolder_permissions_user_id", "vfolder_permissions", ["user_id"], schema=SCHEMA
    )
    op.create_table(
        "vfolder_invitations",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column(
            "vfolder_id",
            sa.Uuid(as_uuid=False),
            sa.ForeignKey(f"{SCHEMA}.vfolders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("inviter_user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("inviter_email", sa.String(254), nullable=False),
        sa.Column("invitee_user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("invitee_email", sa.String(254), nullable=False),
        sa.Column("permission", sa.String(2), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_PERMISSIONS, name="ck_vfolder_invitations_permission"),
        sa.CheckConstraint(
            "state IN ('pending', 'accepted', 'rejected', 'canceled')",
            name="ck_vfolder_invitations_state",
        ),
        schema=SCHEMA,
    )
    # At most one pending invitation per folder and invitee.
    op.create_index(
        "uq_vfolder_invitations_pending",
        "vfolder_invitations",
        ["vfolder_id", "invitee_user_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_vfolder_invitations_invitee", "vfolder_invitations", ["invitee_user_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("vfolder_invitations", schema=SCHEMA)
    op.drop_table("vfolder_permissions", schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.vfolders SET permission = 'rw' WHERE permission = 'wd'")
    op.drop_constraint("ck_vfolders_permission", "vfolders", schema=SCHEMA)
    op.create_check_constraint(
        "ck_vfolders_permission", "vfolders", "permission IN ('rw', 'ro')", schema=SCHEMA
    )
