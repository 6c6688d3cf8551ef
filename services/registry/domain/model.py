"""Sessions, kernels and agents as the registry reasons about them (pure Python)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from libs.core.slots import ResourceSlots
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.utilization import KernelStats


class Status(StrEnum):
    """Lifecycle state shared by sessions and kernels."""

    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    # The agent pulls the image (Backend.AI's PULLING), then creates the kernel.
    PULLING = "PULLING"
    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    # RestartSession: the kernels' runners restart in place; the kernels stay RUNNING.
    RESTARTING = "RESTARTING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"


DEAD_STATUSES = frozenset({Status.TERMINATED, Status.CANCELLED, Status.ERROR})
# A CreateSession that waits returns once its session reaches one of these.
WAIT_ENDS = frozenset({Status.RUNNING, *DEAD_STATUSES})
# Kernels in these statuses hold slots on their agent (all live statuses but PENDING).
AGENT_OCCUPYING_STATUSES = frozenset(
    {Status.SCHEDULED, Status.PULLING, Status.PREPARING, Status.RUNNING, Status.TERMINATING}
)


# Why a bind was refused: the keypair already runs max_concurrent_sessions sessions.
CONCURRENCY_LIMIT = "concurrency-limit"


class SessionType(StrEnum):
    INTERACTIVE = "INTERACTIVE"
    BATCH = "BATCH"


class AgentStatus(StrEnum):
    ALIVE = "ALIVE"
    LOST = "LOST"


@dataclass(frozen=True, slots=True, kw_only=True)
class Kernel:
    kernel_id: str
    session_id: str
    cluster_role: str
    status: Status
    status_info: str
    agent_id: str | None
    requested_slots: ResourceSlots
    exit_code: int | None = None
    agent_address: str = ""
    # Place in a cluster session (docs/cluster-sessions.md): main1 / sub1..subN.
    cluster_idx: int = 1
    local_rank: int = 0
    cluster_hostname: str = "main1"
    # The address the kernel's agent published for it; empty for single-kernel sessions.
    cluster_address: str = ""
    # What it used: its agent's last report (kept with the kernel once it ended).
    stats: KernelStats | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionScheduling:
    """What the owner asked of the scheduler (docs/scheduling.md)."""

    priority: int = 0
    preemptible: bool = False
    # Preempted: queue again (start over) instead of ending with reason "preempted".
    requeue_on_preemption: bool = False
    starts_at: datetime | None = None  # batch sessions only
    dependencies: tuple[str, ...] = ()  # session ids that must end successfully first
    expected_duration: int = 0  # seconds; 0 = unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    session_id: str
    name: str
    session_type: SessionType
    image: str
    status: Status
    status_info: str
    status_message: str
    owner_user_id: str
    access_key: str
    domain_name: str
    project_id: str
    resource_group: str
    requested_slots: ResourceSlots
    vfolder_names: tuple[str, ...]
    client_token: str
    startup_command: str
    environ: Mapping[str, str]
    created_at: datetime
    terminated_at: datetime | None
    trace_context: Mapping[str, str]
    kernels: tuple[Kernel, ...] = field(default=())
    # Set when placed, from the owner's max_session_lifetime; the sweeper ends it after that.
    expires_at: datetime | None = None
    # The owner's idle_timeout in seconds when created (0 = never reclaimed for idleness).
    idle_timeout: int = 0
    # When the owner's user was created (the new-user idle grace counts from there).
    owner_created_at: datetime | None = None
    # Architectures the session's image exists in (empty: any).
    image_architectures: tuple[str, ...] = ()
    # Status name → when the session entered it (the last time, for repeated statuses).
    status_history: Mapping[str, datetime] = field(default_factory=dict)
    cluster_mode: ClusterMode = ClusterMode.SINGLE_NODE
    scheduling: SessionScheduling = field(default_factory=SessionScheduling)
    requeue_on_agent_loss: bool = False

    @property
    def main_kernel(self) -> Kernel | None:
        return next((k for k in self.kernels if k.cluster_role == "main"), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    agent_id: str
    status: AgentStatus
    address: str
    resource_group: str
    available_slots: ResourceSlots
    occupied_slots: ResourceSlots
    backend: str
    last_heartbeat: datetime | None
    architecture: str = ""
    images: tuple[str, ...] = ()
    # False while drained, unhealthy or failing starts (domain/schedulability.py).
    schedulable: bool = True
    unschedulable_reason: str = ""

    @property
    def takes_work(self) -> bool:
        """Whether the scheduler may place kernels on it."""
        return self.status is AgentStatus.ALIVE and self.schedulable


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    vfolder_id: str
    name: str
    host_path: str
    read_only: bool = False
    kernel_path: str = ""  # absolute, under /home/work; "" means /home/work/<name>


class ExecMode(StrEnum):
    QUERY = "query"
    BATCH = "batch"
    CONTINUE = "continue"  # the next output of a polled run
    INPUT = "input"  # answer a polled run's input() prompt


@dataclass(frozen=True, slots=True)
class ExecPoll:
    """The unary continue / input protocol: reply within `flush_timeout` seconds (0: the agent's
    default) with the output so far; CONTINUE and INPUT name the run."""

    flush_timeout: float
    run_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecOutcome:
    """Console output of one execution, as the agent reports it."""

    status: str  # "finished" | "failed" | "timed_out" | "continued" | "waiting_input"
    stdout: str
    stderr: str
    exit_code: int
    error_name: str = ""
    error_message: str = ""
    displays: tuple[Display, ...] = ()  # rich outputs of a cell run on a Jupyter kernel
    truncated: bool = False  # output was cut to fit one reply
    run_id: str = ""  # a polled run: what CONTINUE and INPUT name
    prompt: str | None = None  # waiting_input: the input() prompt
    password: bool = False


@dataclass(frozen=True, slots=True)
class Display:
    """A rich output: MIME type -> content (binary types base64); `result`: the cell's value."""

    data: Mapping[str, str]
    result: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    """What the owner's keypair resource policy allows a new session (0 = no limit)."""

    max_containers_per_session: int = 0
    max_pending_sessions: int = 0
    max_session_lifetime: int = 0  # seconds
    idle_timeout: int = 0  # seconds
    owner_created_at: datetime | None = None  # the user's creation (new-user idle grace)
    # The keypair's total_resource_slots; with `strict_slots`, unnamed slots are capped at 0.
    total_resource_slots: ResourceSlots = field(default_factory=ResourceSlots)
    strict_slots: bool = False
    # The resource group the session goes to (auth picks one when the request names none).
    resource_group: str = ""
    # The highest priority the owner may give a session (0 = only the default, 0).
    max_session_priority: int = 0

    def slots_over(self, requested: ResourceSlots) -> list[str]:
        """Slots whose request alone exceeds the keypair's total (it could never run)."""
        over = []
        named = set(self.total_resource_slots)  # `in` would see 0 for every missing slot
        for slot in sorted(requested):
            if slot not in named and not self.strict_slots:
                continue
            if requested[slot] > self.total_resource_slots[slot]:
                over.append(slot)
        return over


# A session ended because it outlived its owner's max_session_lifetime.
MAX_LIFETIME_EXCEEDED = "max-lifetime-exceeded"


@dataclass(frozen=True, slots=True)
class TerminalChunk:
    """What a session's terminal showed: output bytes, or (last) the shell's exit code."""

    data: bytes = b""
    exit_code: int | None = None
