"""The registry's tables (schema `registry`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "registry"
DEAD = "('TERMINATED','CANCELLED','ERROR')"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class AgentRow(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    address: Mapped[str] = mapped_column(String(256))
    resource_group: Mapped[str] = mapped_column(String(64))
    available_slots: Mapped[dict[str, str]] = mapped_column(JSONB)
    occupied_slots: Mapped[dict[str, str]] = mapped_column(JSONB)
    backend: Mapped[str] = mapped_column(String(32))
    architecture: Mapped[str] = mapped_column(String(32), default="", index=True)
    # Canonical references of the images present on the agent (its inventory).
    images: Mapped[list[str]] = mapped_column(JSONB, default=list)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Out of scheduling (draining, unhealthy, failing starts) while False (rule R-AGENT-OUT).
    schedulable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    unschedulable_reason: Mapped[str] = mapped_column(String(256), default="", server_default="")
    unschedulable_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Consecutive starts that failed by the agent's fault; a successful start resets it.
    start_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When it was marked LOST; its kernels end (or re-queue) after the grace (rule R-LOST-GRACE).
    lost_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index(
            "ix_sessions_client_token",
            "access_key",
            "client_token",
            unique=True,
            postgresql_where=text("client_token IS NOT NULL"),
        ),
        Index(
            "ix_sessions_live_name",
            "access_key",
            "name",
            unique=True,
            postgresql_where=text(f"status NOT IN {DEAD}"),
        ),
        Index("ix_sessions_status_created", "status", "created_at"),
        Index("ix_sessions_access_key_created", "access_key", "created_at"),
        Index("ix_sessions_access_key_status", "access_key", "status"),
        Index("ix_sessions_dependencies", "dependencies", postgresql_using="gin"),
        Index(
            "ix_sessions_expires_at",
            "expires_at",
            postgresql_where=text("expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    session_type: Mapped[str] = mapped_column(String(16))
    image: Mapped[str] = mapped_column(String(256))
    # Architectures the resolved image exists in (the scheduler matches agents against them).
    image_architectures: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str] = mapped_column(String(128), default="")
    status_message: Mapped[str] = mapped_column(Text, default="")
    status_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status_history: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    owner_user_id: Mapped[str] = mapped_column(String(64))
    access_key: Mapped[str] = mapped_column(String(64))
    domain_name: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    resource_group: Mapped[str] = mapped_column(String(64))
    requested_slots: Mapped[dict[str, str]] = mapped_column(JSONB)
    vfolder_mounts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    client_token: Mapped[str | None] = mapped_column(String(64))
    startup_command: Mapped[str] = mapped_column(Text, default="")
    environ: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    trace_context: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The owner's max_session_lifetime when created (0 = none); the deadline is set on bind.
    max_lifetime_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The owner's idle_timeout when created (0 = none): the idle checker's network timeout.
    idle_timeout_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the owner's user was created: the idle checkers' new-user grace counts from here.
    owner_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # SINGLE_NODE or MULTI_NODE (docs/cluster-sessions.md).
    cluster_mode: Mapped[str] = mapped_column(
        String(16), default="SINGLE_NODE", server_default="SINGLE_NODE"
    )
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    preemptible: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Ids of the sessions that must end successfully first (GIN-indexed: dependents lookup).
    dependencies: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    expected_duration: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Failed starts that sent the session back to the queue (rule R-REQUEUE).
    start_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A re-queued session is not offered to the scheduler before this time.
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Queue again (not end) when an agent running one of its kernels is lost.
    requeue_on_agent_loss: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # Queue again (not end) when preempted by a higher-priority session.
    requeue_on_preemption: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class KernelRow(Base):
    __tablename__ = "kernels"
    __table_args__ = (
        Index("ix_kernels_agent_status", "agent_id", "status"),
        Index(
            "ix_kernels_usage",
            "terminated_at",
            "started_at",
            postgresql_where=text("started_at IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    cluster_role: Mapped[str] = mapped_column(String(16))
    cluster_idx: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    local_rank: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cluster_hostname: Mapped[str] = mapped_column(
        String(16), default="main1", server_default="main1"
    )
    # The address the kernel's agent published for it (cluster sessions of several kernels).
    cluster_address: Mapped[str] = mapped_column(String(45), default="", server_default="")
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str] = mapped_column(String(128), default="")
    status_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    agent_id: Mapped[str | None] = mapped_column(String(64))
    agent_address: Mapped[str | None] = mapped_column(String(256))
    requested_slots: Mapped[dict[str, str]] = mapped_column(JSONB)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When it first became RUNNING; usage runs from here to terminated_at (or now).
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # KernelStats.as_dict() of its agent's last report before it ended (domain/utilization.py).
    last_stat: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class OutboxRow(Base):
    """An event committed with the state change that implies it, waiting for the relay
    (rule R-OUTBOX)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsumedEventRow(Base):
    """Ids of the events a consumer already applied (rule R-IDEMPOTENT-CONSUMER)."""

    __tablename__ = "consumed_events"
    __table_args__ = (Index("ix_consumed_events_consumed_at", "consumed_at"),)

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    consumed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SchedulerFenceRow(Base):
    """The newest scheduler lease epoch a bind carried; older ones are refused (R-FENCED-BIND)."""

    __tablename__ = "scheduler_fence"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
