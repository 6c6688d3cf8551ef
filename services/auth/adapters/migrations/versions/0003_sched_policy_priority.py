"""Resource policies cap the priority a keypair's sessions may ask for.

Revision ID: 0003_sched_policy
Revises: 0002_tenancy
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sched_policy"
down_revision: str | None = "0002_tenancy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def upgrade() -> None:
    op.add_column(
        "resource_policies",
        sa.Column("max_session_priority", sa.Integer, nullable=False, server_default="0"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("resource_policies", "max_session_priority", schema=SCHEMA)
