"""Session lifetime limits: the policy's max lifetime and the deadline it gives once placed.

Revision ID: 0002_enforce
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_enforce"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "registry"


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column("max_lifetime_seconds", sa.Integer, nullable=False, server_default="0"),
        schema=S,
    )
    op.add_column("sessions", sa.Column("expires_at", sa.DateTime(timezone=True)), schema=S)
    op.create_index(
        "ix_sessions_expires_at",
        "sessions",
        ["expires_at"],
        schema=S,
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )
    op.create_index("ix_sessions_access_key_status", "sessions", ["access_key", "status"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_sessions_access_key_status", "sessions", schema=S)
    op.drop_index("ix_sessions_expires_at", "sessions", schema=S)
    op.drop_column("sessions", "expires_at", schema=S)
    op.drop_column("sessions", "max_lifetime_seconds", schema=S)
