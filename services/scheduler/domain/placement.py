"""Placing one session: every kernel on an agent that passes the predicates, or a reason why not."""

from __future__ import annotations

from collections.abc import Collection, Hashable, MutableMapping, Sequence

from libs.core.slots import ResourceSlots
from services.scheduler.domain.agent_index import AgentIndex
from services.scheduler.domain.cluster_mode import single_node_gang, spread_back
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
from services.scheduler.domain.why_pending import shortage_by_agents


def place_session(
    session: PendingSession,
    agents: AgentIndex,
    *,
    agent_predicates: Sequence[AgentPredicate],
    session_predicates: Sequence[SessionPredicate],
    selector: AgentSelector,
    misfits: MutableMapping[Hashable, str] | None = None,
    pinned: Collection[str] = (),
) -> Placement | Unschedulable:
    """Kernels are placed one by one; each sees the slots its siblings already took.

    Only one agent per state class is looked at (agent_index.py), plus the agents this
    session's earlier kernels already went to, seen with those kernels' slots taken.
    `misfits` remembers requests that found no agent, for the rest of one cycle (see fit_key).
    `pinned` agents are looked at one by one, never through their class: predicates that look
    at an agent's identity (a reservation held on it) may treat them unlike their equals.
    """
    if not session.kernels:
        # The registry rejects an empty placement, and with it the whole batch.
        return Unschedulable(
            session_id=session.session_id, reason=SCHEDULER_ERROR, message="session has no kernels"
        )
    if (gang := single_node_gang(session)) is not None:
        decision = place_session(
            gang,
            agents,
            agent_predicates=agent_predicates,
            session_predicates=session_predicates,
            selector=selector,
            misfits=misfits,
            pinned=pinned,
        )
        return spread_back(session, decision)
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
        views = _views(session, agents, taken, pinned)
        candidates = [a for a in views if all(p(session, kernel, a) for p in agent_predicates)]
        chosen = selector.select(kernel, with_image_first(session, candidates))
        if chosen is None:
            views = [_plus(a, taken.get(a.agent_id)) for a in agents.agents(session.resource_group)]
            if (mismatch := image_mismatch(session, views)) is not None:
                return mismatch
            message = "; ".join(
                part
                for part in (
                    shortage_message(session.resource_group, kernel.requested, views),
                    shortage_by_agents(kernel.requested, views),
                )
                if part
            )
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
        # The reservation predicate lets sessions that end early enough backfill.
        session.expected_duration,
    )


def _views(
    session: PendingSession,
    agents: AgentIndex,
    taken: dict[str, ResourceSlots],
    pinned: Collection[str],
) -> list[Agent]:
    """One agent per state class, plus, one by one, the agents earlier kernels took slots of
    and the pinned ones, sorted by id."""
    alone = set(taken) | set(pinned)
    views = agents.representatives(session.resource_group, excluding=alone)
    if alone:
        for agent_id in alone:
            agent = agents.get(agent_id)
            if agent is not None and agent.resource_group == session.resource_group:
                views.append(_plus(agent, taken.get(agent_id)))
        views.sort(key=lambda a: a.agent_id)
    return views


def _plus(agent: Agent, extra: ResourceSlots | None) -> Agent:
    if not extra:
        return agent
    return agent.with_occupied(agent.occupied + extra)
