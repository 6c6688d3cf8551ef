"""The `storage` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    false,
    text,
)

SCHEMA = "storage"

metadata = MetaData(schema=SCHEMA)
_PERMISSIONS = "permission IN ('rw', 'ro', 'wd')"

vfolders = Table(
    "vfolders",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("owner_user_id", Uuid(as_uuid=False), nullable=False),
    Column("volume", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The creator's domain, and the project for project folders (NULL for personal ones).
    Column("domain_name", String(64), nullable=False, server_default=""),
    Column("project_id", String(64)),
    Column("permission", String(2), nullable=False, server_default="rw"),
    Column("usage_mode", String(8), nullable=False, server_default="general"),
    Column("cloneable", Boolean, nullable=False, server_default=false()),
    Column("trashed_at", DateTime(timezone=True)),
    CheckConstraint(
        "status IN ('ready', 'cloning', 'trashed', 'deleting', 'performing')",
        name="ck_vfolders_status",
    ),
    CheckConstraint("usage_mode IN ('general', 'model', 'data')", name="ck_vfolders_usage_mode"),
    CheckConstraint(_PERMISSIONS, name="ck_vfolders_permission"),
    # Names are unique per owner among live folders; trashed and deleting ones give theirs back.
    Index(
        "uq_vfolders_owner_name_live",
        "owner_user_id",
        "name",
        unique=True,
        postgresql_where=text("status NOT IN ('deleting', 'trashed')"),
    ),
    Index("ix_vfolders_trashed_at", "trashed_at", postgresql_where=text("status = 'trashed'")),
    Index("ix_vfolders_owner_created_at_id", "owner_user_id", "created_at", "id"),
    Index("ix_vfolders_created_at_id", "created_at", "id"),
    Index("ix_vfolders_domain_created_at_id", "domain_name", "created_at", "id"),
    Index("ix_vfolders_project_id", "project_id", postgresql_where=text("project_id IS NOT NULL")),
)

# What a user was given on a folder that is not theirs: an accepted invitation (personal folders)
# or a share to a project member (project folders, overriding the folder's permission).
vfolder_permissions = Table(
    "vfolder_permissions",
    metadata,
    Column(
        "vfolder_id",
        Uuid(as_uuid=False),
        ForeignKey(f"{SCHEMA}.vfolders.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", Uuid(as_uuid=False), primary_key=True),
    Column("permission", String(2), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(_PERMISSIONS, name="ck_vfolder_permissions_permission"),
    Index("ix_vfolder_permissions_user_id", "user_id"),
)

vfolder_invitations = Table(
    "vfolder_invitations",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column(
        "vfolder_id",
        Uuid(as_uuid=False),
        ForeignKey(f"{SCHEMA}.vfolders.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("inviter_user_id", Uuid(as_uuid=False), nullable=False),
    Column("inviter_email", String(254), nullable=False),
    Column("invitee_user_id", Uuid(as_uuid=False), nullable=False),
    Column("invitee_email", String(254), nullable=False),
    Column("permission", String(2), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(_PERMISSIONS, name="ck_vfolder_invitations_permission"),
    CheckConstraint(
        "state IN ('pending', 'accepted', 'rejected', 'canceled')",
        name="ck_vfolder_invitations_state",
    ),
    Index(
        "uq_vfolder_invitations_pending",
        "vfolder_id",
        "invitee_user_id",
        unique=True,
        postgresql_where=text("state = 'pending'"),
    ),
    Index("ix_vfolder_invitations_invitee", "invitee_user_id"),
)

# A byte limit per quota scope ("user:<id>" or "project:<id>") on a volume; 0 = no limit.
quota_scopes = Table(
    "quota_scopes",
    metadata,
    Column("volume", String(64), primary_key=True),
    Column("scope_id", String(80), primary_key=True),
    Column("limit_bytes", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("limit_bytes >= 0", name="ck_quota_scopes_limit"),
)

# Background work on folders (clones), with progress; `running` ones are settled at start-up.
vfolder_tasks = Table(
    "vfolder_tasks",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("owner_user_id", Uuid(as_uuid=False), nullable=False),
    Column("source_id", Uuid(as_uuid=False), nullable=False),
    Column("target_id", Uuid(as_uuid=False), nullable=False),
    Column("state", String(16), nullable=False),
    Column("bytes_copied", BigInteger, nullable=False, server_default="0"),
    Column("files_copied", BigInteger, nullable=False, server_default="0"),
    Column("error", String(1024), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("state IN ('running', 'done', 'failed')", name="ck_vfolder_tasks_state"),
    Index("ix_vfolder_tasks_running", "created_at", postgresql_where=text("state = 'running'")),
)
