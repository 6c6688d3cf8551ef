"""The transactional outbox and the consumed-event ids of idempotent consumers.

Revision ID: 0004_outbox
Revises: 0003_images
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_outbox"
down_revision = "0003_images"
branch_labels = None
depends_on = None

S = "registry"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "consumed_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("consumed_at", TS, nullable=False),
        schema=S,
    )
    op.create_index("ix_consumed_events_consumed_at", "consumed_events", ["consumed_at"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_consumed_events_consumed_at", "consumed_events", schema=S)
    op.drop_table("consumed_events", schema=S)
    op.drop_table("outbox", schema=S)
