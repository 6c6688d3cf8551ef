"""Images, image aliases, container registries, rescan tasks, resource groups; agents' inventory.

Revision ID: 0003_images
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003_images"
down_revision = "0002_enforce"
branch_labels = None
depends_on = None

S = "registry"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "resource_groups",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    # Agents and sessions name "default" unless configured otherwise: it always exists at first.
    op.execute(
        f"INSERT INTO {S}.resource_groups (name, description) "
        "VALUES ('default', 'Created by the first migration')"
    )
    # Groups agents already registered in keep working.
    op.execute(
        f"INSERT INTO {S}.resource_groups (name) SELECT DISTINCT resource_group FROM {S}.agents "
        "ON CONFLICT DO NOTHING"
    )
    op.create_table(
        "container_registries",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("username", sa.String(256), nullable=False, server_default=""),
        sa.Column("password_encrypted", sa.Text),
        sa.Column("ssl_verify", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "images",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("registry_host", sa.String(128), nullable=False),
        sa.Column("repository", sa.String(256), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("architecture", sa.String(32), nullable=False),
        sa.Column("container_registry", sa.String(64), nullable=False, index=True),
        sa.Column("config_digest", sa.String(128), nullable=False),
        sa.Column("manifest_digest", sa.String(128), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("labels", JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("name", "architecture", name="uq_images_name_arch"),
        schema=S,
    )
    op.create_table(
        "image_aliases",
        sa.Column("alias", sa.String(128), primary_key=True),
        sa.Column("target", sa.String(256), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "rescan_tasks",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("container_registry", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("messages", JSONB, nullable=False, server_default="[]"),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        schema=S,
    )
    op.add_column(
        "agents",
        sa.Column("architecture", sa.String(32), nullable=False, server_default=""),
        schema=S,
    )
    op.add_column(
        "agents", sa.Column("images", JSONB, nullable=False, server_default="[]"), schema=S
    )
    op.add_column(
        "sessions",
        sa.Column("image_architectures", JSONB, nullable=False, server_default="[]"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("sessions", "image_architectures", schema=S)
    op.drop_column("agents", "images", schema=S)
    op.drop_column("agents", "architecture", schema=S)
    for table in ("rescan_tasks", "image_aliases", "images", "container_registries"):
        op.drop_table(table, schema=S)
    op.drop_table("resource_groups", schema=S)
