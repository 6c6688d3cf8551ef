"""What the registry's use cases need from the outside world."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from libs.core.identity import Caller
from libs.core.slots import ResourceSlots
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.model import (
    Agent,
    ExecMode,
    ExecOutcome,
    ExecPoll,
    Mount,
    Session,
    SessionPolicy,
    SessionScheduling,
    SessionType,
    Status,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewKernel:
    kernel_id: str
    cluster_role: str
    requested_slots: ResourceSlots
    cluster_idx: int = 1
    local_rank: int = 0


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
    idle_timeout_seconds: int = 0  # 0 = never reclaimed for idleness
    owner_created_at: datetime | None = None
    max_pending_sessions: int = 0  # checked under the keypair lock when inserting; 0 = none
    image_architectures: tuple[str, ...] = ()
    cluster_mode: ClusterMode = ClusterMode.SINGLE_NODE
    scheduling: SessionScheduling = field(default_factory=SessionScheduling)
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
class SessionPlacement:
    """A scheduler's decision for one session, as the bind transaction checks it."""

    session_id: str
    kernels: Mapping[str, str]  # kernel id → agent id
    max_concurrent_sessions: int = 0  # the keypair limit the scheduler applied; 0 = none


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingNote:
    """Why the scheduler left a session pending, to show to its owner."""

    session_id: str
    reason: str
    message: str


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


class AgentStore(Protocol):
    async def register(
        self, reg: AgentRegistration, now: datetime
    ) -> tuple[list[str], list[SessionChange], Agent]: ...
    async def list_agents(self) -> list[Agent]: ...
    async def alive_ids(self) -> list[str]:
        """The ids of the ALIVE agents, sorted: one column, whatever the fleet's size."""
        ...

    async def get(self, agent_id: str) -> Agent: ...
    async def mark_lost(self, agent_ids: Sequence[str]) -> list[SessionChange]: ...
    async def touch(self, agent_id: str, now: datetime) -> Agent | None: ...
    async def touch_many(self, agent_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The known, ALIVE agents among `agent_ids` with the images they have (sorted), in
        one query."""
        ...

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
    """The broadcast of changes the scheduler's watch and waiting clients follow.

    Only read here: the stores stage each change's events in its own transaction and the
    outbox relay publishes them (rule R-OUTBOX).
    """

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
    async def beat_many(self, agent_ids: Sequence[str], now: datetime) -> None: ...
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
    # Cluster sessions of several kernels: its host name and every kernel's (name, address).
    cluster_hostname: str = ""
    cluster_hosts: tuple[tuple[str, str], ...] = ()


class AgentClient(Protocol):
    async def create_kernels(self, address: str, kernels: Sequence[KernelLaunch]) -> None: ...
    async def destroy_kernel(
        self, address: str, kernel_id: str, session_id: str, reason: str
    ) -> None: ...
    async def execute(
        self,
        address: str,
        kernel_id: str,
        mode: ExecMode,
        code: str,
        timeout: float,
        poll: ExecPoll | None = None,
    ) -> ExecOutcome: ...
    async def kernel_logs(self, address: str, kernel_id: str, tail: int) -> str: ...
    async def restart_kernel(self, address: str, kernel_id: str) -> None:
        """Restart the kernel's runner in place; returns once the new one answers."""
        ...


class MountResolver(Protocol):
    async def resolve(
        self, user_id: str, names: Sequence[str], project_id: str = "", *, specs: Sequence[str] = ()
    ) -> list[Mount]:
        """The user's folders (or `project_id`'s project folders) by name, then the
        "name[/subpath][:kernel_path]" `specs` (docs/storage.md)."""
        ...


class PolicyResolver(Protocol):
    """The owner's tenancy facts for a new session (from auth)."""

    async def resolve(
        self, caller: Caller, *, project_id: str, resource_group: str
    ) -> SessionPolicy:
        """ProjectNotFound / ResourceGroupNotFound when the caller may not use them."""
        ...


class SessionWaiter(Protocol):
    """Per-session flags, set when a session reaches a status that ends a wait (`WAIT_ENDS`)
    on any replica; the statuses on the way there wake nobody."""

    def subscribe(self, session_id: str) -> asyncio.Event: ...
    def unsubscribe(self, session_id: str, flag: asyncio.Event) -> None: ...
    def wake(self, session_id: str, status: Status) -> None:
        """This replica committed the session's move to `status`: wake its waiters now if it
        ends their wait."""
        ...
