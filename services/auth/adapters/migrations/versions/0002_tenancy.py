"""Tenancy: profile and limit columns, resource policies, resource-group access, audit log.

Keypair secrets become ciphertext; rows still in plaintext are encrypted by auth at startup
(the migration has no access to the deployment key).

Revision ID: 0002_tenancy
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_tenancy"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"
_JSON_OBJ = sa.text("'{}'::jsonb")
_JSON_LIST = sa.text("'[]'::jsonb")


def _now(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _text(name: str, length: int) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length), server_default="", nullable=False)


def _jsonb(name: str, default: sa.TextClause) -> sa.Column[Any]:
    return sa.Column(name, postgresql.JSONB, server_default=default, nullable=False)


def _deleted() -> sa.Column[Any]:
    return sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.execute("ALTER TYPE auth.user_status ADD VALUE IF NOT EXISTS 'deleted'")
    for column in (
        _text("description", 512),
        _jsonb("total_resource_slots", _JSON_OBJ),
        _jsonb("allowed_vfolder_hosts", _JSON_LIST),
        _jsonb("allowed_docker_registries", _JSON_LIST),
        _now("updated_at"),
        _deleted(),
    ):
        op.add_column("domains", column, schema=SCHEMA)
    for column in (
        _text("description", 512),
        sa.Column("is_active", sa.Boolean, server_default=sa.true(), nullable=False),
        _jsonb("total_resource_slots", _JSON_OBJ),
        _jsonb("allowed_vfolder_hosts", _JSON_LIST),
        _now("updated_at"),
        _deleted(),
    ):
        op.add_column("projects", column, schema=SCHEMA)
    for column in (
        _text("full_name", 128),
        _text("description", 512),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("need_password_change", sa.Boolean, server_default=sa.false(), nullable=False),
        _now("updated_at"),
    ):
        op.add_column("users", column, schema=SCHEMA)
    op.create_table(
        "resource_policies",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("default_for_unspecified", sa.String(16), nullable=False),
        _jsonb("total_resource_slots", _JSON_OBJ),
        *(
            sa.Column(name, sa.Integer, server_default="0", nullable=False)
            for name in (
                "max_concurrent_sessions",
                "max_containers_per_session",
                "max_session_lifetime",
                "idle_timeout",
                "max_pending_sessions",
                "max_vfolder_count",
            )
        ),
        sa.Column("max_vfolder_size", sa.BigInteger, server_default="0", nullable=False),
        _jsonb("allowed_vfolder_hosts", _JSON_LIST),
        _now("created_at"),
        _now("updated_at"),
        schema=SCHEMA,
    )
    op.execute(
        "INSERT INTO auth.resource_policies (name, default_for_unspecified) "
        "VALUES ('default', 'unlimited')"
    )
    op.alter_column("keypairs", "secret_key", type_=sa.String(256), schema=SCHEMA)
    for column in (
        sa.Column(
            "resource_policy",
            sa.String(64),
            sa.ForeignKey(f"{SCHEMA}.resource_policies.name", onupdate="CASCADE"),
            server_default="default",
            nullable=False,
        ),
        sa.Column("rate_limit", sa.Integer, server_default="10000", nullable=False),
        _now("updated_at"),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    ):
        op.add_column("keypairs", column, schema=SCHEMA)
    _access_tables()
    _audit_table()


def _access_tables() -> None:
    op.create_table(
        "resource_group_domains",
        sa.Column("resource_group", sa.String(64), primary_key=True),
        sa.Column(
            "domain_name",
            sa.String(64),
            sa.ForeignKey(f"{SCHEMA}.domains.name", onupdate="CASCADE", ondelete="CASCADE"),
            primary_key=True,
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "resource_group_projects",
        sa.Column("resource_group", sa.String(64), primary_key=True),
        sa.Column(
            "project_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "resource_group_keypairs",
        sa.Column("resource_group", sa.String(64), primary_key=True),
        sa.Column(
            "access_key",
            sa.String(20),
            sa.ForeignKey(f"{SCHEMA}.keypairs.access_key", ondelete="CASCADE"),
            primary_key=True,
        ),
        schema=SCHEMA,
    )
    # The bootstrap domain may use the default resource group, as before this revision.
    op.execute(
        "INSERT INTO auth.resource_group_domains (resource_group, domain_name) "
        "SELECT 'default', name FROM auth.domains WHERE name = 'default'"
    )


def _audit_table() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        _text("actor_user_id", 36),
        _text("actor_email", 254),
        _text("actor_access_key", 20),
        sa.Column("action", sa.String(64), nullable=False),
        _text("target_type", 32),
        _text("target_id", 128),
        _text("domain_name", 64),
        sa.Column("outcome", sa.String(16), nullable=False),
        _text("status_code", 32),
        sa.Column("detail", sa.Text, server_default="", nullable=False),
        _text("trace_id", 32),
        _text("client_address", 64),
        schema=SCHEMA,
    )
    op.create_index("ix_audit_events_time", "audit_events", ["time"], schema=SCHEMA)
    op.create_index(
        "ix_audit_events_domain_time", "audit_events", ["domain_name", "time"], schema=SCHEMA
    )
    op.create_index(
        "ix_audit_events_actor_time", "audit_events", ["actor_user_id", "time"], schema=SCHEMA
    )


def downgrade() -> None:
    for table in (
        "audit_events",
        "resource_group_keypairs",
        "resource_group_projects",
        "resource_group_domains",
    ):
        op.drop_table(table, schema=SCHEMA)
    for column in ("revoked_at", "updated_at", "rate_limit", "resource_policy"):
        op.drop_column("keypairs", column, schema=SCHEMA)
    op.drop_table("resource_policies", schema=SCHEMA)
    for column in ("updated_at", "need_password_change", "password_hash", "description"):
        op.drop_column("users", column, schema=SCHEMA)
    op.drop_column("users", "full_name", schema=SCHEMA)
    for table in ("projects", "domains"):
        for column in ("deleted_at", "updated_at", "allowed_vfolder_hosts"):
            op.drop_column(table, column, schema=SCHEMA)
        op.drop_column(table, "total_resource_slots", schema=SCHEMA)
        op.drop_column(table, "description", schema=SCHEMA)
    op.drop_column("projects", "is_active", schema=SCHEMA)
    op.drop_column("domains", "allowed_docker_registries", schema=SCHEMA)
    # Ciphertext does not fit the old width: the downgrade keeps the wider column.
