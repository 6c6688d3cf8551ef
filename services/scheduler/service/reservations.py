"""Reservations against starvation, kept across cycles (docs/scheduling.md).

Before each cycle, the oldest session of a group pending longer than the group's
`reservation_wait` (and tried at least once) gets a reservation on the agent where it can
start soonest: one reservation per group at a time.
During the cycle the holder is tried first in its group, and other sessions may use a reserved
agent only without delaying the holder (domain/reservation.py). A reservation ends when its
session leaves the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import Agent, PendingKernel, PendingSession
from services.scheduler.domain.reservation import Reservation, may_backfill, reserve, starving


class Reservations:
    name = "reservation"

    def __init__(
        self, *, wait_for: Callable[[str], timedelta], now: Callable[[], datetime]
    ) -> None:
        self._wait_for = wait_for
        self._now = now
        self._by_session: dict[str, Reservation] = {}
        self._by_agent: dict[str, Reservation] = {}
        self._moment = datetime.min.replace(tzinfo=UTC)

    def refresh(self, cache: ClusterCache) -> None:
        """Drop reservations of sessions that left the queue; re-estimate the others; add new
        ones for sessions that starve."""
        self._moment = self._now()
        pending = {s.session_id: s for s in cache.pending()}
        active = cache.active()
        kept: dict[str, Reservation] = {}
        for sid in sorted(self._by_session, key=lambda i: self._by_session[i].agent_id):
            session = pending.get(sid)
            if session is None:
                continue
            taken = {r.agent_id for r in kept.values()}
            agents = [a for a in cache.agents(session.resource_group) if a.agent_id not in taken]
            if (fresh := reserve(session, agents, active)) is not None:
                kept[sid] = fresh
        # Only a session that was tried and failed can starve: look at those alone.
        tried = [s for s in pending.values() if cache.find_attempt(s.session_id) is not None]
        for session in sorted(tried, key=lambda s: (s.create_time, s.session_id)):
            groups = {pending[sid].resource_group for sid in kept}
            if session.resource_group in groups or not self._starves(cache, session):
                continue
            taken = {r.agent_id for r in kept.values()}
            agents = [a for a in cache.agents(session.resource_group) if a.agent_id not in taken]
            if (fresh := reserve(session, agents, active)) is not None:
                kept[session.session_id] = fresh
        self._by_session = kept
        self._by_agent = {r.agent_id: r for r in kept.values()}

    def reserved_agents(self) -> set[str]:
        """Agents holding a reservation: placement must look at them one by one."""
        return {r.agent_id for r in self._by_session.values()}

    def holders_first(self, ordered: Sequence[PendingSession]) -> list[PendingSession]:
        """The policy's order with reservation holders moved to the front (stable)."""
        holders = [s for s in ordered if s.session_id in self._by_session]
        return holders + [s for s in ordered if s.session_id not in self._by_session]

    def reservation_of(self, session_id: str) -> Reservation | None:
        return self._by_session.get(session_id)

    def __call__(self, session: PendingSession, kernel: PendingKernel, agent: Agent) -> bool:
        """Agent predicate: may `session` use `agent` without delaying a reservation there?

        It reads the session's expected duration (part of placement's fit_key) and id; the one
        holder of a group is tried first (holders_first), so no verdict cached in the cycle
        for another session applies to it."""
        del kernel  # the whole session's request is weighed against the reservation
        held = self._by_agent.get(agent.agent_id)
        return held is None or may_backfill(session, agent, held, now=self._moment)

    def _starves(self, cache: ClusterCache, session: PendingSession) -> bool:
        attempt = cache.find_attempt(session.session_id)
        tried = attempt is not None and attempt.attempts > 0
        wait = self._wait_for(session.resource_group)
        return tried and starving(session, now=self._moment, max_wait=wait)
