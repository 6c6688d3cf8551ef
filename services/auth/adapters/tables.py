"""The `auth` schema. Migrations in `migrations/versions` must be kept in step with this."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from libs.core.identity import Role
from services.auth.domain.model import UserStatus

SCHEMA = "auth"


def _values(enum: type[Role] | type[UserStatus]) -> list[str]:
    return [member.value for member in enum]


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class DomainRow(Base):
    __tablename__ = "domains"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    description: Mapped[str] = mapped_column(String(512), default="", server_default="")
    total_resource_slots: Mapped[dict[str, str]] = mapped_column(
        JSONB, default=dict, server_default="{}"
    )
    allowed_vfolder_hosts: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    allowed_docker_registries: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_name", "name", name="uq_projects_domain_name"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    domain_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("domains.name", onupdate="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    description: Mapped[str] = mapped_column(String(512), default="", server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    total_resource_slots: Mapped[dict[str, str]] = mapped_column(
        JSONB, default=dict, server_default="{}"
    )
    allowed_vfolder_hosts: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", schema=SCHEMA, values_callable=_values), default=Role.USER
    )
    status: Mapped[UserStatus] = mapped_column(
        Enum(UserStatus, name="user_status", schema=SCHEMA, values_callable=_values),
        default=UserStatus.ACTIVE,
    )
    domain_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("domains.name", onupdate="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    full_name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    description: Mapped[str] = mapped_column(String(512), default="", server_default="")
    password_hash: Mapped[str | None] = mapped_column(String(256))
    need_password_change: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="false"
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProjectMemberRow(Base):
    __tablename__ = "project_members"
    __table_args__ = (Index("ix_project_members_user_id", "user_id"),)

    project_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class KeypairRow(Base):
    __tablename__ = "keypairs"
    __table_args__ = (Index("ix_keypairs_user_id", "user_id"),)

    access_key: Mapped[str] = mapped_column(String(20), primary_key=True)
    secret_key: Mapped[str] = mapped_column(String(256))  # encrypted (adapters.secret_cipher)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resource_policy: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("resource_policies.name", onupdate="CASCADE"),
        default="default",
        server_default="default",
    )
    rate_limit: Mapped[int] = mapped_column(Integer, default=10_000, server_default="10000")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ResourcePolicyRow(Base):
    __tablename__ = "resource_policies"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    default_for_unspecified: Mapped[str] = mapped_column(String(16), default="unlimited")
    total_resource_slots: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    max_concurrent_sessions: Mapped[int] = mapped_column(Integer, default=0)
    max_containers_per_session: Mapped[int] = mapped_column(Integer, default=0)
    max_session_lifetime: Mapped[int] = mapped_column(Integer, default=0)  # seconds
    idle_timeout: Mapped[int] = mapped_column(Integer, default=0)  # seconds
    max_pending_sessions: Mapped[int] = mapped_column(Integer, default=0)
    max_vfolder_count: Mapped[int] = mapped_column(Integer, default=0)
    max_vfolder_size: Mapped[int] = mapped_column(BigInteger, default=0)
    allowed_vfolder_hosts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    max_session_priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ResourceGroupDomainRow(Base):
    __tablename__ = "resource_group_domains"

    resource_group: Mapped[str] = mapped_column(String(64), primary_key=True)
    domain_name: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("domains.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )


class ResourceGroupProjectRow(Base):
    __tablename__ = "resource_group_projects"

    resource_group: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )


class ResourceGroupKeypairRow(Base):
    __tablename__ = "resource_group_keypairs"

    resource_group: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_key: Mapped[str] = mapped_column(
        String(20), ForeignKey("keypairs.access_key", ondelete="CASCADE"), primary_key=True
    )


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_time", "time"),
        Index("ix_audit_events_domain_time", "domain_name", "time"),
        Index("ix_audit_events_actor_time", "actor_user_id", "time"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_user_id: Mapped[str] = mapped_column(String(36), default="")
    actor_email: Mapped[str] = mapped_column(String(254), default="")
    actor_access_key: Mapped[str] = mapped_column(String(20), default="")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(128), default="")
    domain_name: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[str] = mapped_column(String(32), default="OK")
    detail: Mapped[str] = mapped_column(Text, default="")
    trace_id: Mapped[str] = mapped_column(String(32), default="")
    client_address: Mapped[str] = mapped_column(String(64), default="")
