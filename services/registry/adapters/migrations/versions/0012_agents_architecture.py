"""Agents indexed by architecture: an image's architectures are found without reading every
agent (CreateSession asks on every create).

Revision ID: 0012_agents_architecture
Revises: 0011_templates_presets
"""

from alembic import op

revision = "0012_agents_architecture"
down_revision = "0011_templates_presets"
branch_labels = None
depends_on = None

S = "registry"


def upgrade() -> None:
    op.create_index("ix_agents_architecture", "agents", ["architecture"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_agents_architecture", "agents", schema=S)
