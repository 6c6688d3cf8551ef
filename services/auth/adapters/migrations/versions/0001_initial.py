"""The tenancy tables and keypairs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def _created_at() -> sa.Column[datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("is_active", sa.Boolean, server_default=sa.true(), nullable=False),
        _created_at(),
        schema=SCHEMA,
    )
    op.create_table(
        "projects",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "domain_name",
            sa.String(64),
            sa.ForeignKey(f"{SCHEMA}.domains.name", onupdate="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        _created_at(),
        sa.UniqueConstraint("domain_name", "name", name="uq_projects_domain_name"),
        schema=SCHEMA,
    )
    op.create_table(
        "users",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column(
            "role",
            sa.Enum("superadmin", "admin", "user", "monitor", name="user_role", schema=SCHEMA),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("active", "inactive", name="user_status", schema=SCHEMA),
            nullable=False,
        ),
        sa.Column(
            "domain_name",
            sa.String(64),
            sa.ForeignKey(f"{SCHEMA}.domains.name", onupdate="CASCADE"),
            nullable=False,
        ),
        _created_at(),
        schema=SCHEMA,
    )
    op.create_table(
        "project_members",
        sa.Column(
            "project_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_project_members_user_id", "project_members", ["user_id"], schema=SCHEMA)
    op.create_table(
        "keypairs",
        sa.Column("access_key", sa.String(20), primary_key=True),
        sa.Column("secret_key", sa.String(40), nullable=False),
        sa.Column(
            "user_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean, server_default=sa.true(), nullable=False),
        sa.Column("is_admin", sa.Boolean, server_default=sa.false(), nullable=False),
        _created_at(),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.create_index("ix_keypairs_user_id", "keypairs", ["user_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("keypairs", schema=SCHEMA)
    op.drop_table("project_members", schema=SCHEMA)
    op.drop_table("users", schema=SCHEMA)
    op.drop_table("projects", schema=SCHEMA)
    op.drop_table("domains", schema=SCHEMA)
    sa.Enum(name="user_status", schema=SCHEMA).drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="user_role", schema=SCHEMA).drop(op.get_bind(), checkfirst=True)
