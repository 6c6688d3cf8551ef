"""Tables of images, container registries, rescan tasks and resource groups (schema `registry`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.registry.adapters.tables import Base


class ResourceGroupRow(Base):
    __tablename__ = "resource_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scheduler: Mapped[str] = mapped_column(String(32), default="fifo")
    scheduler_options: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    agent_selector: Mapped[str] = mapped_column(String(32), default="least-occupied")
    allowed_session_types: Mapped[list[str]] = mapped_column(JSONB, default=list)
    pending_timeout_seconds: Mapped[int] = mapped_column(Integer, default=0)
    reservation_wait_seconds: Mapped[int] = mapped_column(Integer, default=0)
    # UtilizationPolicy.as_dict() (domain/utilization.py); NULL: not checked.
    idle_utilization: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ContainerRegistryRow(Base):
    __tablename__ = "container_registries"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    type: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(256), default="")
    # Fernet token of the password (adapters/secrets.py); NULL when there is none.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    ssl_verify: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImageRow(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("name", "architecture", name="uq_images_name_arch"),)

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))  # canonical registry/repository:tag
    registry_host: Mapped[str] = mapped_column(String(128))
    repository: Mapped[str] = mapped_column(String(256))
    tag: Mapped[str] = mapped_column(String(128))
    architecture: Mapped[str] = mapped_column(String(32))
    container_registry: Mapped[str] = mapped_column(String(64), index=True)
    config_digest: Mapped[str] = mapped_column(String(128))
    manifest_digest: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    labels: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImageAliasRow(Base):
    __tablename__ = "image_aliases"

    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    target: Mapped[str] = mapped_column(String(256), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RescanTaskRow(Base):
    __tablename__ = "rescan_tasks"

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    container_registry: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[list[str]] = mapped_column(JSONB, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    node_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
