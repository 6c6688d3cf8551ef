"""Resource groups choose their scheduling policy, options, agent selector, admitted session
types, pending timeout and reservation wait; sessions carry priority, preemptible, start time,
dependencies and expected duration.

Revision ID: 0006_group_scheduling
Revises: 0005_cluster_kernels
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_group_scheduling"
down_revision = "0005_cluster_kernels"
branch_labels = None
depends_on = None

S = "registry"
T = "resource_groups"


def upgrade() -> None:
    op.add_column(
        T, sa.Column("scheduler", sa.String(32), nullable=False, server_default="fifo"), schema=S
    )
    op.add_column(
        T,
        sa.Column(
            "scheduler_options", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        schema=S,
    )
    op.add_column(
        T,
        sa.Column("agent_selector", sa.String(32), nullable=False, server_default="least-occupied"),
        schema=S,
    )
    op.add_column(
        T,
        sa.Column(
            "allowed_session_types", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
        schema=S,
    )
    for column in ("pending_timeout_seconds", "reservation_wait_seconds"):
        op.add_column(
            T, sa.Column(column, sa.Integer, nullable=False, server_default="0"), schema=S
        )

    op.add_column(
        "sessions", sa.Column("priority", sa.Integer, nullable=False, server_default="0"), schema=S
    )
    op.add_column(
        "sessions",
        sa.Column("preemptible", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=S,
    )
    op.add_column("sessions", sa.Column("starts_at", sa.DateTime(timezone=True)), schema=S)
    op.add_column(
        "sessions",
        sa.Column("dependencies", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        schema=S,
    )
    op.add_column(
        "sessions",
        sa.Column("expected_duration", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.create_index(
        "ix_sessions_dependencies",
        "sessions",
        ["dependencies"],
        postgresql_using="gin",
        schema=S,
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_dependencies", table_name="sessions", schema=S)
    for column in ("expected_duration", "dependencies", "starts_at", "preemptible", "priority"):
        op.drop_column("sessions", column, schema=S)
    for column in (
        "reservation_wait_seconds",
        "pending_timeout_seconds",
        "allowed_session_types",
        "agent_selector",
        "scheduler_options",
        "scheduler",
    ):
        op.drop_column(T, column, schema=S)
