"""Whether an agent can take a session's kernels: the rules a bind checks under the agent's lock."""

from __future__ import annotations

from collections.abc import Sequence

from libs.core.slots import ResourceSlots
from services.registry.domain.model import Agent, AgentStatus


def placement_conflict(
    agent: Agent | None,
    *,
    resource_group: str,
    image_architectures: Sequence[str],
    wanted: ResourceSlots,
    free: ResourceSlots | None = None,
) -> str:
    """Why `agent` cannot take `wanted` more slots for a session; "" when it can. `free`: what
    the agent has left when the caller already counts more than its occupied slots (a batch
    bind's earlier sessions), else its available minus occupied slots."""
    if agent is None or agent.status is not AgentStatus.ALIVE:
        return "agent-not-alive"
    if not agent.schedulable:  # drained, unhealthy or failing its starts (rule R-AGENT-OUT)
        return "agent-unschedulable"
    if agent.resource_group != resource_group:
        return "agent-resource-group-mismatch"
    if image_architectures and agent.architecture not in image_architectures:
        return "agent-architecture-mismatch"
    if free is None:
        free = agent.available_slots - agent.occupied_slots
    if not wanted.fits_in(free):
        return "agent-capacity-exceeded"
    return ""


def occupied_by(allocations: Sequence[ResourceSlots]) -> ResourceSlots:
    """An agent's occupied slots: the sum of its live kernels' allocations, derived, never
    incremented, so a crash or a duplicate event cannot make it drift."""
    total = ResourceSlots()
    for slots in allocations:
        total = total + slots
    return total
