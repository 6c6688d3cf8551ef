"""The scheduler's in-memory view of the cluster, fed by the registry's watch.

Placements are *assumed* here before the registry commits them, so that the next decision in
the same cycle already sees the capacity as taken (the Kubernetes scheduler's assume/bind).
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.slots import ResourceSlots
from services.scheduler.domain.agent_index import AgentIndex
from services.scheduler.domain.attempts import AttemptRecord
from services.scheduler.domain.model import (
    ActiveSession,
    Agent,
    AgentChanged,
    ClusterChange,
    ClusterSnapshot,
    PendingSession,
    Placement,
    SessionActive,
    SessionEnded,
    SessionPending,
    SessionRemoved,
)


@dataclass(slots=True)
class _Assumption:
    placement: Placement
    # Set once the registry said "bound": kept until the watch confirms it (see remove_pending).
    bound_at: float | None = None


class ClusterCache:
    def __init__(self) -> None:
        self._reported: dict[str, Agent] = {}
        self._views = AgentIndex()  # reported occupancy plus our assumptions
        self._assumed: dict[str, _Assumption] = {}
        self._assumed_by_agent: dict[str, ResourceSlots] = {}
        self._pending: dict[str, PendingSession] = {}
        self._attempts: dict[str, AttemptRecord] = {}
        self._active: dict[str, ActiveSession] = {}  # sessions holding slots, for the limits

    # --- watch input -------------------------------------------------------------------------

    def apply(self, change: ClusterChange) -> None:
        match change:
            case ClusterSnapshot():
                self.replace(change)
            case AgentChanged(agent=agent):
                self.put_agent(agent)
            case SessionPending(session=session):
                self.add_pending(session)
            case SessionRemoved(session_id=session_id):
                self.remove_pending(session_id)
            case SessionActive(session=active):
                self.remove_pending(active.session_id)
                self._active[active.session_id] = active
            case SessionEnded(session_id=session_id):
                self.remove_pending(session_id)
                self._active.pop(session_id, None)

    def replace(self, snapshot: ClusterSnapshot) -> None:
        """Start over from a snapshot; it reflects every committed bind, so drop assumptions."""
        self._reported.clear()
        self._views.clear()
        self._assumed.clear()
        self._assumed_by_agent.clear()
        self._pending = {s.session_id: s for s in snapshot.pending}
        self._active = {s.session_id: s for s in snapshot.active}
        # Attempt history survives a resync so that notes are not re-sent for every session.
        self._attempts = {k: v for k, v in self._attempts.items() if k in self._pending}
        for agent in snapshot.agents:
            self.put_agent(agent)

    def put_agent(self, agent: Agent) -> None:
        self._reported[agent.agent_id] = agent
        self._refresh(agent.agent_id)

    def add_pending(self, session: PendingSession) -> None:
        self._pending[session.session_id] = session

    def remove_pending(self, session_id: str) -> None:
        """The session left the queue. We assume the registry publishes the agents' new
        occupancy no later than this removal, so a bound assumption is now redundant."""
        self._pending.pop(session_id, None)
        self._attempts.pop(session_id, None)
        self._drop_assumption(session_id)

    # --- reads -------------------------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent | None:
        return self._views.get(agent_id)

    @property
    def index(self) -> AgentIndex:
        """Agents with assumed placements counted as occupied, grouped by state."""
        return self._views

    def agents(self, resource_group: str) -> list[Agent]:
        """Agents of a group with assumed placements counted as occupied, sorted by id."""
        return self._views.agents(resource_group)

    def pending(self) -> list[PendingSession]:
        return list(self._pending.values())

    def active(self) -> list[ActiveSession]:
        return list(self._active.values())

    def is_pending(self, session_id: str) -> bool:
        return session_id in self._pending

    def attempt(self, session_id: str) -> AttemptRecord:
        return self._attempts.setdefault(session_id, AttemptRecord())

    def find_attempt(self, session_id: str) -> AttemptRecord | None:
        return self._attempts.get(session_id)

    def is_assumed(self, session_id: str) -> bool:
        return session_id in self._assumed

    # --- assume / bind / forget --------------------------------------------------------------

    def assume(self, placement: Placement) -> None:
        """Count a placement as occupied before the registry has committed it."""
        self._drop_assumption(placement.session_id)
        self._assumed[placement.session_id] = _Assumption(placement)
        for agent_id, slots in placement.slots_by_agent().items():
            self._assumed_by_agent[agent_id] = (
                self._assumed_by_agent.get(agent_id, ResourceSlots()) + slots
            )
            self._refresh(agent_id)

    def forget(self, session_id: str) -> None:
        """Undo an assumption (the bind failed or conflicted); the session stays pending."""
        self._drop_assumption(session_id)

    def confirm_bound(self, session_id: str, *, now: float) -> None:
        """The registry committed the placement: leave the queue, keep the slots counted.

        It counts as active at once (the watch confirms it later), unless the watch already
        reported it gone: then it must not come back as a phantom holder of slots."""
        session = self._pending.pop(session_id, None)
        if session is not None:
            self._active.setdefault(session_id, ActiveSession.of(session))
        self._attempts.pop(session_id, None)
        assumption = self._assumed.get(session_id)
        if assumption is not None:
            assumption.bound_at = now

    def expire_bound(self, *, now: float, ttl: float) -> None:
        """Drop bound assumptions whose confirmation never came (a lost watch event)."""
        stale = [
            sid
            for sid, a in self._assumed.items()
            if a.bound_at is not None and now - a.bound_at >= ttl
        ]
        for session_id in stale:
            self._drop_assumption(session_id)

    # --- internals ---------------------------------------------------------------------------

    def _drop_assumption(self, session_id: str) -> None:
        assumption = self._assumed.pop(session_id, None)
        if assumption is None:
            return
        for agent_id, slots in assumption.placement.slots_by_agent().items():
            left = self._assumed_by_agent.get(agent_id, ResourceSlots()) - slots
            if left:
                self._assumed_by_agent[agent_id] = left
            else:
                self._assumed_by_agent.pop(agent_id, None)
            self._refresh(agent_id)

    def _refresh(self, agent_id: str) -> None:
        reported = self._reported.get(agent_id)
        if reported is None:
            self._views.remove(agent_id)
            return
        extra = self._assumed_by_agent.get(agent_id)
        self._views.put(reported.with_occupied(reported.occupied + extra) if extra else reported)
