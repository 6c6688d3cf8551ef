"""The scheduler fence: the newest leader-lease epoch a bind carried (rule R-FENCED-BIND).

Revision ID: 0007_scheduler_fence
Revises: 0006_group_scheduling
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_scheduler_fence"
down_revision = "0006_group_scheduling"
branch_labels = None
depends_on = None

S = "registry"


def upgrade() -> None:
    op.create_table(
        "scheduler_fence",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("scheduler_fence", schema=S)
