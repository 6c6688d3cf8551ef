"""What the registry's use cases need from the outside world."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from libs.core.identity import Caller
from libs.core.slots import ResourceSlots
from services.registry.domain.model import (
    Agent,
    ExecMode,
    ExecOutcome,
    Mount,
    Session,
    SessionPolicy,
    SessionType,
    Status,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewKernel:
    kernel_id: str
    cluster_role: str
    requested_slots: ResourceSlots


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSession:
    session_id: str
    name: str
    session_type: SessionType
    image: str
    owner_user_id: str
    access_key: str
    domain_name: str
    project_id: str
    resource_group: str
    mounts: tuple[Mount, ...]
    client_token: str
    startup_command: str
    environ: Mapping[str, str]
    trace_context: Mapping[str, str]
    kernels: tuple[NewKernel, ...]
    created_at: datetime
    max_lifetime_seconds: int = 0  # 0 = no limit
    max_pending_sessions: int = 0  # checked under the keypair lock when inserting; 0 = none
    image_architectures: tuple[str, ...] = ()
    requeue_on_agent_loss: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFilter:
    """Which sessions a listing may show; None fields do not narrow."""

    owner_user_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionChange:
    """What one transaction changed: the session's new status (if any) and touched agents."""

    session_id: str
    status: Status | None
    status_info: str = ""
    agents: tuple[Agent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BindOutcome:
    session_id: str
    bound: bool
    conflict: str = ""
    change: SessionChange | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelTarget:
    """A kernel and the agent that runs (or will run) it."""

    kernel_id: str
    session_id: str
    agent_id: str
    agent_address: str
    requested_slots: ResourceSlots = field(default_factory=ResourceSlots)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparingSession:
    session: Session
    targets: tuple[KernelTarget, ...]
    mounts: tuple[Mount, ...]
    change: SessionChange


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRegistration:
    agent_id: str
    address: str
    resource_group: str
    available_slots: ResourceSlots
    backend: str
    live_kernel_ids: tuple[str, ...]
    architecture: str = ""
    images: tuple[str, ...] = ()


class SessionStore(Protocol):
    async def add(self, new: NewSession) -> tuple[Session, bool]: ...
    async def get(self, session_id: str) -> Session: ...
    async def list_sessions(
        self,
        *,
        scope: SessionFilter,
        statuses: Sequence[Status],
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[Session]: ...
    async def list_pending(self) -> list[Session]: ...
    async def list_active(self) -> list[Session]:
        """Sessions holding slots (SCHEDULED to TERMINATING), for the scheduler's limits."""
        ...

    async def note_unschedulable(self, session_id: str, reason: str, message: str) -> bool: ...
    async def bind(
        self, session_id: str, placements: Mapping[str, str], *, max_concurrent_sessions: int = 0
    ) -> BindOutcome: ...
    async def claim_scheduled(self, limit: int) -> list[PreparingSession]: ...
    async def apply_kernel_status(
        self,
        kernel_id: str,
        new: Status,
        *,
        reason: str,
        exit_code: int | None = None,
        message: str = "",
    ) -> SessionChange | None: ...
    async def cancel(self, session_id: str, *, reason: str, error: str) -> SessionChange | None: ...
    async def begin_destroy(
        self, session_id: str, *, forced: bool, reason: str
    ) -> tuple[list[KernelTarget], SessionChange | None]: ...
    async def stale_preparing(self, older_than: datetime) -> list[PreparingSession]: ...
    async def stale_terminating(self, older_than: datetime) -> list[KernelTarget]: ...
    async def expired(self, now: datetime) -> list[str]:
        """Running sessions past their lifetime deadline."""
        ...


class AgentStore(Protocol):
    async def register(
        self, reg: AgentRegistration, now: datetime
    ) -> tuple[list[str], list[SessionChange], Agent]: ...
    async def list_agents(self) -> list[Agent]: ...
    async def get(self, agent_id: str) -> Agent: ...
    async def mark_lost(self, agent_ids: Sequence[str]) -> list[SessionChange]: ...
    async def touch(self, agent_id: str, now: datetime) -> Agent | None: ...
    async def set_images(self, agent_id: str, images: Sequence[str]) -> Agent | None:
        """Record a changed inventory; the agent when it changed, None otherwise."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterChange:
    """One entry of the cluster broadcast, decoded."""

    kind: str  # "enqueued" | "session" | "agent"
    session_id: str = ""
    status: str = ""
    agent: Agent | None = None


class ClusterEvents(Protocol):
    """Broadcast of changes the scheduler's watch and waiting clients follow."""

    async def session_enqueued(self, session_id: str) -> None: ...
    async def session_changed(self, change: SessionChange) -> None: ...
    async def agent_changed(self, agent: Agent) -> None: ...
    async def position(self) -> str: ...
    def follow(self, after: str) -> AsyncIterator[ClusterChange]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Beat:
    """One agent's heartbeat entry as the sweep saw it (compared again before removal)."""

    agent_id: str
    value: str


class HeartbeatClock(Protocol):
    """Last heartbeat per agent, kept off the database (rule R-HEARTBEAT-OFF-DB)."""

    async def beat(self, agent_id: str, now: datetime) -> None: ...
    async def first_sight(self, agent_ids: Sequence[str], now: datetime) -> list[str]:
        """Date agents that have no entry (e.g. after a Redis restart) from now."""
        ...

    async def stale(self, older_than: datetime) -> list[Beat]: ...
    async def forget(self, beats: Sequence[Beat]) -> int:
        """Remove the entries that still hold the values seen (compare-and-delete)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelLaunch:
    kernel_id: str
    session_id: str
    image: str
    slots: ResourceSlots
    mounts: tuple[Mount, ...]
    environ: Mapping[str, str]
    startup_command: str


class AgentClient(Protocol):
    async def create_kernels(self, address: str, kernels: Sequence[KernelLaunch]) -> None: ...
    async def destroy_kernel(
        self, address: str, kernel_id: str, session_id: str, reason: str
    ) -> None: ...
    async def execute(
        self, address: str, kernel_id: str, mode: ExecMode, code: str, timeout: float
    ) -> ExecOutcome: ...
    async def kernel_logs(self, address: str, kernel_id: str, tail: int) -> str: ...


class MountResolver(Protocol):
    async def resolve(
        self, user_id: str, names: Sequence[str], project_id: str = ""
    ) -> list[Mount]:
        """The user's folders (or `project_id`'s project folders) by name."""
        ...


class PolicyResolver(Protocol):
    """The owner's tenancy facts for a new session (from auth)."""

    async def resolve(
        self, caller: Caller, *, project_id: str, resource_group: str
    ) -> SessionPolicy:
        """ProjectNotFound / ResourceGroupNotFound when the caller may not use them."""
        ...


class SessionWaiter(Protocol):
    """Per-session change flags, set whenever a session's status changes on any replica."""

    def subscribe(self, session_id: str) -> asyncio.Event: ...
    def unsubscribe(self, session_id: str, flag: asyncio.Event) -> None: ...
