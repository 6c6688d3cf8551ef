"""Preemption: a higher-priority session that fits nowhere may end lower-priority ones.

Victims are active sessions that are `preemptible`, of strictly lower priority, of the same
domain as the preemptor (a tenant never ends another tenant's work), and hold slots on one
agent. On each agent, victims are taken lowest priority first, then least work lost (running
seconds times the share of the agent they hold), until the session fits; victims that turn out
unnecessary are handed back. The agent whose victims lose the least work wins. Victims end
with reason `preempted`, or are queued again by the registry when they asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import ActiveSession, Agent, PendingSession

PREEMPTED = "preempted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Preemption:
    agent_id: str
    victims: tuple[str, ...]
    # (highest victim priority, work lost): smaller is better.
    cost: tuple[int, Decimal]


def work_lost(victim: ActiveSession, agent: Agent, now: datetime) -> Decimal:
    """Running seconds times the largest share of the agent's capacity the victim holds there."""
    held = victim.slots_by_agent.get(agent.agent_id, ResourceSlots())
    share = max(
        (held[s] / cap for s, cap in agent.available.items() if cap > 0), default=Decimal(0)
    )
    # A victim with no known start counts as having run for a day: rather not end it.
    if victim.since is None:
        seconds = Decimal(86400)
    else:
        seconds = Decimal(max(int((now - victim.since).total_seconds()), 0))
    return seconds * share


def choose_victims(
    session: PendingSession,
    agents: Sequence[Agent],
    active: Sequence[ActiveSession],
    *,
    now: datetime,
) -> Preemption | None:
    """The cheapest set of victims on one agent that makes room for all of `session`."""
    need = session.requested
    best: Preemption | None = None
    for agent in agents:
        if not agent.alive or agent.resource_group != session.resource_group:
            continue
        if not need.fits_in(agent.available):
            continue
        eligible = [
            v
            for v in active
            if v.preemptible
            and v.priority < session.priority
            and v.domain_name == session.domain_name
            and agent.agent_id in v.slots_by_agent
        ]
        eligible.sort(key=lambda v: (v.priority, work_lost(v, agent, now), v.session_id))
        picked = _enough(need, agent, eligible)
        if picked is None:
            continue
        cost = (
            max((v.priority for v in picked), default=session.priority),
            sum((work_lost(v, agent, now) for v in picked), Decimal(0)),
        )
        candidate = Preemption(
            agent_id=agent.agent_id, victims=tuple(v.session_id for v in picked), cost=cost
        )
        if best is None or (candidate.cost, candidate.agent_id) < (best.cost, best.agent_id):
            best = candidate
    if best is None or not best.victims:
        return None
    return best


def _enough(
    need: ResourceSlots, agent: Agent, eligible: Sequence[ActiveSession]
) -> list[ActiveSession] | None:
    freed = agent.free
    picked: list[ActiveSession] = []
    for victim in eligible:
        if need.fits_in(freed):
            break
        freed = freed + victim.slots_by_agent[agent.agent_id]
        picked.append(victim)
    if not need.fits_in(freed):
        return None
    # Hand back victims (most expensive first) whose slots are not needed after all.
    for victim in sorted(picked, key=lambda v: v.priority, reverse=True):
        without = freed - victim.slots_by_agent[agent.agent_id]
        if need.fits_in(without):
            freed = without
            picked.remove(victim)
    return picked
