"""Preempted sessions may ask to be queued again instead of ending.

Revision ID: 0009_sched_gaps_preempt_requeue
Revises: 0008_requeue
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_sched_gaps_preempt_requeue"
down_revision = "0008_requeue"
branch_labels = None
depends_on = None

S = "registry"


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column("requeue_on_preemption", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("sessions", "requeue_on_preemption", schema=S)
