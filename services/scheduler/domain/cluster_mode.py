"""Single-node cluster sessions: every kernel on one agent (docs/cluster-sessions.md).

The placement treats such a session as one kernel asking for the sum of its kernels' slots, so
an agent is chosen only if it fits all of them at once; the result puts every kernel there.
Multi-node sessions are placed kernel by kernel and may spread. Either way a session is placed
whole or not at all: an Unschedulable never carries part of a placement.
"""

from __future__ import annotations

import dataclasses

from services.scheduler.domain.model import (
    KernelPlacement,
    PendingKernel,
    PendingSession,
    Placement,
    Unschedulable,
)


def single_node_gang(session: PendingSession) -> PendingSession | None:
    """The session as one combined kernel when it must fit one agent; None otherwise."""
    if not session.single_node or len(session.kernels) < 2:
        return None
    combined = PendingKernel(kernel_id=session.kernels[0].kernel_id, requested=session.requested)
    return dataclasses.replace(session, kernels=(combined,))


def spread_back(
    session: PendingSession, decision: Placement | Unschedulable
) -> Placement | Unschedulable:
    """Every kernel of `session` on the agent chosen for its combined kernel."""
    if isinstance(decision, Unschedulable):
        prefix = f"single-node cluster of {len(session.kernels)} kernels needs one agent: "
        return dataclasses.replace(decision, message=prefix + decision.message)
    agent_id = decision.kernels[0].agent_id
    kernels = tuple(
        KernelPlacement(kernel_id=k.kernel_id, agent_id=agent_id, slots=k.requested)
        for k in session.kernels
    )
    return dataclasses.replace(decision, kernels=kernels)
