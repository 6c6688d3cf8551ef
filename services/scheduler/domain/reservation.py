"""Reservations against starvation, with backfill (the way Slurm does it).

A session pending longer than the group's bounded wait while smaller ones keep getting placed
is given a reservation: the agent where its request is expected to be free soonest, judging by
the expected end (bind time + expected duration) of the sessions there. Other sessions may
then be placed on that agent only if they leave the reserved slots free, or if they are
expected to end before the reservation's estimated start. A session with no end estimate
never backfills into reserved slots, and a reservation with no estimated start admits none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import ActiveSession, Agent, PendingSession


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    session_id: str
    agent_id: str
    slots: ResourceSlots
    # When the slots are expected to be free; None when some holder has no end estimate.
    starts_at: datetime | None


def starving(session: PendingSession, *, now: datetime, max_wait: timedelta) -> bool:
    """True once a session has waited longer than the bounded wait (0 disables reservations)."""
    return max_wait > timedelta(0) and now - session.create_time > max_wait


@dataclass(frozen=True, slots=True)
class Estimate:
    """When a request is expected to fit on an agent: now, at `when`, or at an unknown time."""

    now: bool
    when: datetime | None

    def rank(self) -> tuple[int, float]:
        if self.now:
            return (0, 0.0)
        if self.when is not None:
            return (1, self.when.timestamp())
        return (2, 0.0)


def estimated_start(
    need: ResourceSlots, agent: Agent, active: Sequence[ActiveSession], ends: dict[str, datetime]
) -> Estimate | None:
    """None when `need` can never fit on the agent (larger than its capacity)."""
    if not need.fits_in(agent.available):
        return None
    free = agent.free
    if need.fits_in(free):
        return Estimate(now=True, when=None)
    holders = [a for a in active if agent.agent_id in a.slots_by_agent and a.session_id in ends]
    for holder in sorted(holders, key=lambda a: (ends[a.session_id], a.session_id)):
        free = free + holder.slots_by_agent[agent.agent_id]
        if need.fits_in(free):
            return Estimate(now=False, when=ends[holder.session_id])
    return Estimate(now=False, when=None)


def reserve(
    session: PendingSession,
    agents: Sequence[Agent],
    active: Sequence[ActiveSession],
) -> Reservation | None:
    """The agent where `session` can start soonest (unknown estimates last; then agent id)."""
    ends = {
        a.session_id: a.since + timedelta(seconds=a.expected_duration)
        for a in active
        if a.since is not None and a.expected_duration > 0
    }
    best: tuple[tuple[int, float, str], Reservation] | None = None
    for agent in agents:
        if not agent.alive or agent.resource_group != session.resource_group:
            continue
        estimate = estimated_start(session.requested, agent, active, ends)
        if estimate is None:
            continue
        key = (*estimate.rank(), agent.agent_id)
        if best is None or key < best[0]:
            best = (
                key,
                Reservation(
                    session_id=session.session_id,
                    agent_id=agent.agent_id,
                    slots=session.requested,
                    starts_at=estimate.when,
                ),
            )
    return None if best is None else best[1]


def may_backfill(
    candidate: PendingSession, agent: Agent, reservation: Reservation, *, now: datetime
) -> bool:
    """Whether placing `candidate` on `agent` leaves `reservation` undelayed."""
    if reservation.agent_id != agent.agent_id or reservation.session_id == candidate.session_id:
        return True
    after = agent.free - candidate.requested
    if reservation.slots.fits_in(after):
        return True  # uses only slots the reservation does not need
    if candidate.expected_duration <= 0 or reservation.starts_at is None:
        return False
    return now + timedelta(seconds=candidate.expected_duration) <= reservation.starts_at
