"""Ports to the outside world the agent talks to: the event stream and the registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from services.agent.domain.model import KernelUsage

# Reasons (kebab-case) the agent puts on lifecycle events, besides the backend's exit reasons.
REASON_FAILED_TO_START = "failed-to-start"
REASON_ALREADY_TERMINATED = "already-terminated"
REASON_UNKNOWN_TO_REGISTRY = "unknown-to-registry"


class Phase(StrEnum):
    CREATING = "creating"
    PULLING = "pulling"
    STARTED = "started"
    CREATE_FAILED = "create-failed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelEvent:
    """A kernel lifecycle change, as published for the registry."""

    kernel_id: str
    session_id: str
    agent_id: str
    phase: Phase
    reason: str = ""
    exit_code: int = 0
    message: str = ""
    # W3C trace context of the span the event belongs to (the registry continues that trace).
    trace_context: Mapping[str, str] = field(default_factory=dict)


class EventPublisher(Protocol):
    async def publish(self, event: KernelEvent) -> None:
        """Publish durably; raises Unavailable when the stream cannot be reached."""
        ...

    async def publish_together(self, events: Sequence[KernelEvent]) -> None:
        """Publish in order and all or none, so that the registry reads them in one go and
        applies them in one transaction; raises Unavailable as `publish` does."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentInfo:
    """What the agent tells the registry about itself."""

    agent_id: str
    address: str
    resource_group: str
    cpu: Decimal
    mem_bytes: int
    backend: str
    architecture: str = ""
    # What accelerator plugins add, e.g. {"cuda.device": 2}.
    accelerator_slots: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    kernels_to_destroy: tuple[str, ...]
    # Seconds; None when the registry did not say.
    heartbeat_interval: float | None
    # The agent's credential (docs/access.md, "Agent credentials"); "" from a registry that
    # issues none.
    agent_secret: str = ""


@dataclass(frozen=True, slots=True)
class AgentHealth:
    """The agent's last self-check; an unhealthy agent gets no new work from the registry."""

    healthy: bool = True
    reason: str = ""


class AgentRegistry(Protocol):
    async def register(
        self, info: AgentInfo, live_kernel_ids: Sequence[str], images: Sequence[str] = ()
    ) -> Registration:
        """Register (again). Raises a ShipyardError (e.g. Unavailable) on failure."""
        ...

    async def heartbeat(
        self,
        info: AgentInfo,
        live_kernel_ids: Sequence[str],
        images: Sequence[str] = (),
        health: AgentHealth | None = None,
        stats: Sequence[KernelUsage] = (),
    ) -> bool:
        """Report liveness (and what the kernels used); True when the registry asks the agent
        to register again."""
        ...

    async def drain(self, agent_id: str, reason: str) -> None:
        """Leave scheduling: the registry places no new work here. Raises on failure."""
        ...
