"""What the scheduler knows about the cluster, and the decisions it makes."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from libs.core.slots import CPU, MEM, ResourceSlots

# Kebab-case reasons recorded for sessions that stay pending (spec Appendix F).
NO_AVAILABLE_INSTANCES = "no-available-instances"
# No live agent of the group runs an architecture the session's image exists in.
NO_MATCHING_ARCHITECTURE = "no-matching-architecture"
# No live agent of the group has the image and none can pull it (process-backend agents).
NO_IMAGE_CAPABLE_AGENT = "image-not-available"
# Backends that pull any image; the others (the process backend) run only what they report.
# Simulated agents (services/agent/simulated) "run" any image.
PULLING_BACKENDS = frozenset({"container", "simulated"})
PREDICATE_CHECKS_FAILED = "predicate-checks-failed"
SCHEDULER_ERROR = "scheduler-error"
# Conflict reported by the registry when the session left the queue meanwhile.
SESSION_NOT_PENDING = "session-not-pending"

_ZERO = Decimal(0)
SlotsKey = tuple[tuple[str, Decimal], ...]
_Amounts = dict[str, Decimal]


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    """An agent's capacity; `occupied` is committed allocations (plus our assumptions in views)."""

    agent_id: str
    alive: bool
    resource_group: str
    available: ResourceSlots
    occupied: ResourceSlots
    architecture: str = ""
    # Canonical references of the images on the agent: placing there needs no pull.
    images: frozenset[str] = frozenset()
    backend: str = ""
    # Derived once, as plain dicts: predicates and selectors read them for every candidate of
    # every session, and Mapping lookups on ResourceSlots dominated the cycle's profile.
    free: ResourceSlots = field(init=False, repr=False, compare=False)
    _free: _Amounts = field(init=False, repr=False, compare=False)
    _used: _Amounts = field(init=False, repr=False, compare=False)
    _capacity: SlotsKey = field(init=False, repr=False, compare=False)
    # Capacity and occupancy as sorted (slot, amount) tuples: the agent index's class key.
    available_key: SlotsKey = field(init=False, repr=False, compare=False)
    occupied_key: SlotsKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        capacity = tuple((k, v) for k, v in self.available.items() if v > 0)
        object.__setattr__(self, "_capacity", capacity)
        object.__setattr__(self, "available_key", tuple(sorted(self.available.items())))
        self._derive_usage()

    def _derive_usage(self) -> None:
        occupied_key = tuple(sorted(self.occupied.items()))
        object.__setattr__(self, "occupied_key", occupied_key)
        free, free_amounts, used = _usage(self.available_key, occupied_key)
        object.__setattr__(self, "free", free)
        object.__setattr__(self, "_free", free_amounts)
        object.__setattr__(self, "_used", used)

    def with_occupied(self, occupied: ResourceSlots) -> Agent:
        """This agent with another occupancy (an assumed placement): every decision makes
        one, so only what occupancy changes is derived again (not dataclasses.replace)."""
        view = object.__new__(Agent)
        for name in _KEPT_BY_WITH_OCCUPIED:
            object.__setattr__(view, name, getattr(self, name))
        object.__setattr__(view, "occupied", occupied)
        view._derive_usage()
        return view

    def can_run(self, image: str) -> bool:
        """True when the agent has the image or can pull it."""
        return not image or image in self.images or self.backend in PULLING_BACKENDS

    def fits(self, kernel: PendingKernel) -> bool:
        """True when the kernel's request fits in what is free now."""
        free = self._free
        return all(free.get(slot, _ZERO) >= amount for slot, amount in kernel.amounts.items())

    def unneeded_slots(self, kernel: PendingKernel) -> int:
        """How many of this agent's accelerator slots the kernel asks none of."""
        wanted = kernel.amounts
        return sum(
            1 for slot, _ in self._capacity if slot not in (CPU, MEM) and not wanted.get(slot)
        )

    def utilization_after(self, kernel: PendingKernel) -> Decimal:
        """The largest used fraction over this agent's slots once the kernel is placed on it."""
        used, wanted = self._used, kernel.amounts
        highest = _ZERO
        for slot, capacity in self._capacity:
            share = (used.get(slot, _ZERO) + wanted.get(slot, _ZERO)) / capacity
            if share > highest:
                highest = share
        return highest


_KEPT_BY_WITH_OCCUPIED: tuple[str, ...] = ("agent_id", "alive", "resource_group", "available")
_KEPT_BY_WITH_OCCUPIED += ("architecture", "images", "backend", "_capacity", "available_key")


@functools.lru_cache(maxsize=4096)
def _usage(available: SlotsKey, occupied: SlotsKey) -> tuple[ResourceSlots, _Amounts, _Amounts]:
    """Free slots for a capacity and an occupancy. Thousands of alike agents share a few of
    those: each pair is derived once (the dicts are shared, never written)."""
    free = ResourceSlots(dict(available)) - ResourceSlots(dict(occupied))
    return free, dict(free), dict(occupied)


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingKernel:
    kernel_id: str
    requested: ResourceSlots
    amounts: dict[str, Decimal] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amounts", dict(self.requested))


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingSession:
    session_id: str
    access_key: str
    resource_group: str
    create_time: datetime
    kernels: tuple[PendingKernel, ...]
    # W3C trace context of the creating request, so that scheduling joins its trace.
    trace_context: Mapping[str, str] = field(default_factory=dict)
    owner_user_id: str = ""
    project_id: str = ""
    domain_name: str = ""
    image: str = ""
    # Architectures the image exists in; empty means any.
    architectures: frozenset[str] = frozenset()
    # Single-node cluster sessions need one agent for all their kernels; the registry always
    # says which mode a session has (its default is single-node), see cluster_mode.py.
    single_node: bool = False
    # "interactive", "batch" or "inference": resource groups may admit only some types.
    session_type: str = "interactive"
    # Larger runs first under the priority policy; bounded by the owner's resource policy.
    priority: int = 0
    # May be ended (reason "preempted") to make room for a higher-priority session.
    preemptible: bool = False
    # Batch sessions only: not before this instant (timezone-aware).
    starts_at: datetime | None = None
    # Sessions that must have TERMINATED successfully before this one may start, and what the
    # registry last said of each ("running", "succeeded", "failed").
    dependencies: tuple[str, ...] = ()
    dependency_outcomes: Mapping[str, str] = field(default_factory=dict)
    # The image's per-kernel maximum (`ai.backend.resource.max.*`); missing slots unbounded.
    image_max: ResourceSlots = field(default_factory=ResourceSlots)
    # How long the user expects the session to run, in seconds (0 = unknown): backfill needs it.
    expected_duration: float = 0.0
    # The sum of the kernels' requests, derived once (the limits read it for every decision).
    requested: ResourceSlots = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = ResourceSlots()
        for kernel in self.kernels:
            total = total + kernel.requested
        object.__setattr__(self, "requested", total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveSession:
    """A session that holds slots (SCHEDULED to TERMINATING): what the limits count."""

    session_id: str
    access_key: str
    project_id: str
    domain_name: str
    slots: ResourceSlots
    resource_group: str = ""
    owner_user_id: str = ""
    priority: int = 0
    preemptible: bool = False
    # When it was bound (None = unknown): preemption prefers victims that ran least.
    since: datetime | None = None
    # Expected run time in seconds (0 = unknown): reservations estimate start times from it.
    expected_duration: float = 0.0
    # The agents its kernels hold slots on, with the slots held on each.
    slots_by_agent: Mapping[str, ResourceSlots] = field(default_factory=dict)

    @classmethod
    def of(cls, session: PendingSession) -> ActiveSession:
        return cls(
            session_id=session.session_id,
            access_key=session.access_key,
            project_id=session.project_id,
            domain_name=session.domain_name,
            slots=session.requested,
            resource_group=session.resource_group,
            owner_user_id=session.owner_user_id,
            priority=session.priority,
            preemptible=session.preemptible,
            expected_duration=session.expected_duration,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelPlacement:
    kernel_id: str
    agent_id: str
    slots: ResourceSlots


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """All kernels of one session put on agents."""

    session_id: str
    kernels: tuple[KernelPlacement, ...]
    trace_context: Mapping[str, str] = field(default_factory=dict)
    # The keypair limit applied, for the registry's authoritative re-check (0 = none).
    max_concurrent_sessions: int = 0

    def slots_by_agent(self) -> dict[str, ResourceSlots]:
        if len(self.kernels) == 1:  # the common case, without a sum
            return {self.kernels[0].agent_id: self.kernels[0].slots}
        per_agent: dict[str, ResourceSlots] = {}
        for k in self.kernels:
            per_agent[k.agent_id] = per_agent.get(k.agent_id, ResourceSlots()) + k.slots
        return per_agent


@dataclass(frozen=True, slots=True, kw_only=True)
class Unschedulable:
    """Why a session cannot be placed now; it stays pending and others are tried."""

    session_id: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResult:
    session_id: str
    bound: bool
    conflict_reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSnapshot:
    agents: tuple[Agent, ...]
    pending: tuple[PendingSession, ...]
    active: tuple[ActiveSession, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentChanged:
    agent: Agent


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPending:
    session: PendingSession


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRemoved:
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionActive:
    """Bound (by any replica): it left the queue and holds slots now."""

    session: ActiveSession


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded:
    session_id: str


# One item of the registry's watch stream: a snapshot first, then incremental changes.
ClusterChange = (
    ClusterSnapshot | AgentChanged | SessionPending | SessionRemoved | SessionActive | SessionEnded
)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedSession:
    """A pending session with its attempt history, as ListPendingSessions shows it."""

    session: PendingSession
    attempts: int
    pending_reason: str
    pending_message: str
    # 1-based place in its group's queue (policy order) and that queue's length; 0 = unknown.
    queue_position: int = 0
    queue_length: int = 0
