"""Tables of session templates and resource presets (schema `registry`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.registry.adapters.tables import Base


class SessionTemplateRow(Base):
    __tablename__ = "session_templates"
    __table_args__ = (
        Index("ix_session_templates_owner", "owner_user_id"),
        Index("ix_session_templates_project", "project_id"),
        Index("ix_session_templates_domain", "domain_name"),
        Index("ux_session_templates_name", "owner_user_id", "project_id", "name", unique=True),
    )

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    owner_user_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64), default="")
    domain_name: Mapped[str] = mapped_column(String(64))
    # The checked values as JSON (TemplateSpec), and the document exactly as it was sent.
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ResourcePresetRow(Base):
    __tablename__ = "resource_presets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_slots: Mapped[dict[str, str]] = mapped_column(JSONB)
    resource_group: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
