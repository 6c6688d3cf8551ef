"""Users' password hash and need-password-change flag (password login).

Revision ID: 0002_edgeauth
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_edgeauth"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column(
        "users",
        sa.Column("need_password_change", sa.Boolean(), server_default="false", nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("users", "need_password_change", schema=SCHEMA)
    op.drop_column("users", "password_hash", schema=SCHEMA)
