"""Failed starts go back to the queue; agents can be taken out of scheduling; lost agents'
sessions wait out a grace period and may ask to be queued again.

Revision ID: 0008_requeue
Revises: 0007_scheduler_fence
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_requeue"
down_revision = "0007_scheduler_fence"
branch_labels = None
depends_on = None

S = "registry"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "agents",
        sa.Column("schedulable", sa.Boolean, nullable=False, server_default=sa.true()),
        schema=S,
    )
    op.add_column(
        "agents",
        sa.Column("unschedulable_reason", sa.String(256), nullable=False, server_default=""),
        schema=S,
    )
    op.add_column("agents", sa.Column("unschedulable_since", TS), schema=S)
    op.add_column(
        "agents",
        sa.Column("start_failures", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.add_column(
        "sessions",
        sa.Column("start_attempts", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.add_column("sessions", sa.Column("not_before", TS), schema=S)
    op.add_column(
        "sessions",
        sa.Column("requeue_on_agent_loss", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=S,
    )
    op.add_column("agents", sa.Column("lost_at", TS), schema=S)
    op.create_index(
        "ix_sessions_not_before",
        "sessions",
        ["not_before"],
        schema=S,
        postgresql_where=sa.text("not_before IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_not_before", table_name="sessions", schema=S)
    op.drop_column("agents", "lost_at", schema=S)
    op.drop_column("sessions", "requeue_on_agent_loss", schema=S)
    op.drop_column("sessions", "not_before", schema=S)
    op.drop_column("sessions", "start_attempts", schema=S)
    for column in ("start_failures", "unschedulable_since", "unschedulable_reason", "schedulable"):
        op.drop_column("agents", column, schema=S)
