"""Placing one session: every kernel on an agent that passes the predicates, or a reason why not."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, MutableMapping, Sequence

from libs.core.slots import ResourceSlots
from services.scheduler.domain.agent_index import AgentIndex
from services.scheduler.domain.image_fit import image_mismatch, with_image_first
from services.scheduler.domain.model import (
    NO_AVAILABLE_INSTANCES,
    PREDICATE_CHECKS_FAILED,
    SCHEDULER_ERROR,
    Agent,
    KernelPlacement,
    PendingSession,
    Placement,
    Unschedulable,
)
from services.scheduler.domain.predicates import (
    AgentPredicate,
    SessionPredicate,
    failed_session_predicates,
)
from services.scheduler.domain.selectors import AgentSelector
from services.scheduler.domain.shortage import shortage_message


def place_session(
    session: PendingSession,
    agents: AgentIndex,
    *,
    agent_predicates: Sequence[AgentPredicate],
    session_predicates: Sequence[SessionPredicate],
    selector: AgentSelector,
    misfits: MutableMapping[Hashable, str] | None = None,
) -> Placement | Unschedulable:
    """Kernels are placed one by one; each sees the slots its siblings already took.

    Only one agent per state class is looked at (agent_index.py), plus the agents this
    session's earlier kernels already went to, seen with those kernels' slots taken.
    `misfits` remembers requests that found no agent, for the rest of one cycle (see fit_key).
    """
    if not session.kernels:
        # The registry rejects an empty placement, and with it the whole batch.
        return Unschedulable(
            session_id=session.session_id, reason=SCHEDULER_ERROR, message="session has no kernels"
        )
    failures = failed_session_predicates(session, session_predicates)
    if failures:
        return Unschedulable(
            session_id=session.session_id,
            reason=PREDICATE_CHECKS_FAILED,
            message="; ".join(failures),
        )
    key = fit_key(session)
    if misfits is not None and (message := misfits.get(key)) is not None:
        return Unschedulable(
            session_id=session.session_id, reason=NO_AVAILABLE_INSTANCES, message=message
        )
    taken: dict[str, ResourceSlots] = {}
    kernels: list[KernelPlacement] = []
    for kernel in session.kernels:
        views = _views(session, agents, taken)
        candidates = [a for a in views if all(p(session, kernel, a) for p in agent_predicates)]
        chosen = selector.select(kernel, with_image_first(session, candidates))
        if chosen is None:
            views = [_plus(a, taken.get(a.agent_id)) for a in agents.agents(session.resource_group)]
            if (mismatch := image_mismatch(session, views)) is not None:
                return mismatch
            message = shortage_message(session.resource_group, kernel.requested, views)
            if misfits is not None:
                misfits[key] = message
            return Unschedulable(
                session_id=session.session_id, reason=NO_AVAILABLE_INSTANCES, message=message
            )
        kernels.append(
            KernelPlacement(
                kernel_id=kernel.kernel_id, agent_id=chosen.agent_id, slots=kernel.requested
            )
        )
        if len(kernels) < len(session.kernels):  # siblings follow: they see this one's slots
            taken[chosen.agent_id] = taken.get(chosen.agent_id, ResourceSlots()) + kernel.requested
    return Placement(
        session_id=session.session_id, kernels=tuple(kernels), trace_context=session.trace_context
    )


def fit_key(session: PendingSession) -> Hashable:
    """Everything agent predicates may look at. Within one cycle capacity only shrinks (we only
    assume), so a later session with the same key cannot fit either: skip its scan."""
    return (
        session.resource_group,
        session.image,
        session.architectures,
        tuple(k.requested for k in session.kernels),
    )


def _views(
    session: PendingSession, agents: AgentIndex, taken: dict[str, ResourceSlots]
) -> list[Agent]:
    """One agent per state class, and the agents earlier kernels took slots of, sorted by id."""
    views = agents.representatives(session.resource_group, excluding=taken)
    if taken:
        for agent_id, slots in taken.items():
            agent = agents.get(agent_id)
            if agent is not None:
                views.append(_plus(agent, slots))
        views.sort(key=lambda a: a.agent_id)
    return views


def _plus(agent: Agent, extra: ResourceSlots | None) -> Agent:
    if not extra:
        return agent
    return dataclasses.replace(agent, occupied=agent.occupied + extra)
