"""Session templates and resource presets.

Revision ID: 0011_templates_presets
Revises: 0010_idle_usage
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0011_templates_presets"
down_revision = "0010_idle_usage"
branch_labels = None
depends_on = None

S = "registry"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "session_templates",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("owner_user_id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        schema=S,
    )
    for column in ("owner_user_id", "project_id", "domain_name"):
        op.create_index(
            f"ix_session_templates_{column.split('_')[0]}", "session_templates", [column], schema=S
        )
    # One name per owner and project: a retried create finds its template instead of a twin.
    op.create_index(
        "ux_session_templates_name",
        "session_templates",
        ["owner_user_id", "project_id", "name"],
        unique=True,
        schema=S,
    )
    op.create_table(
        "resource_presets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("resource_slots", JSONB, nullable=False),
        sa.Column("resource_group", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("resource_presets", schema=S)
    op.drop_table("session_templates", schema=S)
