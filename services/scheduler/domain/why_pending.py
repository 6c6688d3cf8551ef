"""Why pending: how far a request is from fitting, agent by agent, and where it waits in line.

The message counts agents, not amounts on each ("cpu short by 2 on 7 of 10 agents"), so it
changes only when the shape of the shortage changes, not with every small occupancy change;
notes are sent to the registry only when they change (see AttemptRecord.needs_note).
"""

from __future__ import annotations

from collections.abc import Sequence

from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import Agent, PendingSession
from services.scheduler.domain.shortage import format_amount


def shortage_by_agents(request: ResourceSlots, agents: Sequence[Agent]) -> str:
    """E.g. "cpu short by 2 on 7 of 10 agents; mem short by 4 GiB on 3 of 10 agents".

    "short by" is the smallest shortfall among the agents short of that slot: how much would
    have to be freed on the closest agent.
    """
    alive = [a for a in agents if a.alive]
    if not alive:
        return ""  # nothing to count: shortage_message says there is no alive agent
    parts: list[str] = []
    for slot in sorted(request):
        wanted = request[slot]
        if wanted <= 0:
            continue
        gaps = [wanted - a.free[slot] for a in alive if a.free[slot] < wanted]
        if gaps:
            parts.append(
                f"{slot} short by {format_amount(slot, min(gaps))} "
                f"on {len(gaps)} of {len(alive)} agents"
            )
    if not parts:
        return f"all {len(alive)} agents have room; other predicates excluded them"
    return "; ".join(parts)


def queue_positions(ordered: Sequence[PendingSession]) -> dict[str, tuple[int, int]]:
    """Position (1-based) and queue length of each session, in the order its policy tries them."""
    total = len(ordered)
    return {s.session_id: (i + 1, total) for i, s in enumerate(ordered)}
