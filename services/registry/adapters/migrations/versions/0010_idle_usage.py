"""Idle reclamation and usage: each session keeps its owner's idle timeout and when the owner
was created (the new-user grace period counts from there); each kernel records when it started
running (usage counts from there to its end) and its last reported stats; resource groups may
carry a utilization policy.

Revision ID: 0010_idle_usage
Revises: 0009_sched_gaps_preempt_requeue
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_idle_usage"
down_revision = "0009_sched_gaps_preempt_requeue"
branch_labels = None
depends_on = None

S = "registry"


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column("idle_timeout_seconds", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.add_column("sessions", sa.Column("owner_created_at", sa.DateTime(timezone=True)), schema=S)
    op.add_column("kernels", sa.Column("started_at", sa.DateTime(timezone=True)), schema=S)
    # Kernels that ran before this revision: from when their session last became RUNNING.
    op.execute(
        "UPDATE registry.kernels AS k"
        " SET started_at = CAST(s.status_history->>'RUNNING' AS timestamptz)"
        " FROM registry.sessions AS s"
        " WHERE s.id = k.session_id AND s.status_history ? 'RUNNING'"
        " AND k.status IN ('RUNNING', 'TERMINATING', 'TERMINATED')"
    )
    # Kernels that ran, by when they ended (live ones have none): the usage queries' range scan.
    op.create_index(
        "ix_kernels_usage",
        "kernels",
        ["terminated_at", "started_at"],
        schema=S,
        postgresql_where=sa.text("started_at IS NOT NULL"),
    )
    # What each kernel used, as its agent last reported before it ended (domain/utilization.py).
    op.add_column("kernels", sa.Column("last_stat", JSONB), schema=S)
    op.add_column("resource_groups", sa.Column("idle_utilization", JSONB), schema=S)


def downgrade() -> None:
    op.drop_column("resource_groups", "idle_utilization", schema=S)
    op.drop_column("kernels", "last_stat", schema=S)
    op.drop_index("ix_kernels_usage", table_name="kernels", schema=S)
    op.drop_column("kernels", "started_at", schema=S)
    op.drop_column("sessions", "owner_created_at", schema=S)
    op.drop_column("sessions", "idle_timeout_seconds", schema=S)
