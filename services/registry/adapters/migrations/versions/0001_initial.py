"""Agents, sessions and kernels.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "registry"
DEAD = "('TERMINATED','CANCELLED','ERROR')"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("resource_group", sa.String(64), nullable=False),
        sa.Column("available_slots", JSONB, nullable=False),
        sa.Column("occupied_slots", JSONB, nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.Column("last_heartbeat", TS),
        schema=S,
    )
    op.create_table(
        "sessions",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("session_type", sa.String(16), nullable=False),
        sa.Column("image", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_info", sa.String(128), nullable=False, server_default=""),
        sa.Column("status_message", sa.Text, nullable=False, server_default=""),
        sa.Column("status_data", JSONB, nullable=False, server_default="{}"),
        sa.Column("status_history", JSONB, nullable=False, server_default="{}"),
        sa.Column("owner_user_id", sa.String(64), nullable=False),
        sa.Column("access_key", sa.String(64), nullable=False),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("resource_group", sa.String(64), nullable=False),
        sa.Column("requested_slots", JSONB, nullable=False),
        sa.Column("vfolder_mounts", JSONB, nullable=False, server_default="[]"),
        sa.Column("client_token", sa.String(64)),
        sa.Column("startup_command", sa.Text, nullable=False, server_default=""),
        sa.Column("environ", JSONB, nullable=False, server_default="{}"),
        sa.Column("trace_context", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status_changed_at", TS, nullable=False),
        sa.Column("terminated_at", TS),
        schema=S,
    )
    op.create_index(
        "ix_sessions_client_token",
        "sessions",
        ["access_key", "client_token"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("client_token IS NOT NULL"),
    )
    op.create_index(
        "ix_sessions_live_name",
        "sessions",
        ["access_key", "name"],
        unique=True,
        schema=S,
        postgresql_where=sa.text(f"status NOT IN {DEAD}"),
    )
    op.create_index("ix_sessions_status_created", "sessions", ["status", "created_at"], schema=S)
    op.create_index(
        "ix_sessions_access_key_created", "sessions", ["access_key", "created_at"], schema=S
    )
    op.create_table(
        "kernels",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column(
            "session_id",
            UUID(as_uuid=False),
            sa.ForeignKey(f"{S}.sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("cluster_role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_info", sa.String(128), nullable=False, server_default=""),
        sa.Column("status_data", JSONB, nullable=False, server_default="{}"),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("agent_address", sa.String(256)),
        sa.Column("requested_slots", JSONB, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status_changed_at", TS, nullable=False),
        sa.Column("terminated_at", TS),
        schema=S,
    )
    op.create_index("ix_kernels_agent_status", "kernels", ["agent_id", "status"], schema=S)


def downgrade() -> None:
    op.drop_table("kernels", schema=S)
    op.drop_table("sessions", schema=S)
    op.drop_table("agents", schema=S)
