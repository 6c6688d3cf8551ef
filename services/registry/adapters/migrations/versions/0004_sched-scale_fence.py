"""The scheduler fence: the newest leader-lease epoch a bind carried (rule R-FENCED-BIND).

Revision ID: 0004_sched_scale_fence
Revises: 0003_images
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_sched_scale_fence"
down_revision = "0003_images"
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
