"""The scheduler-facing side: the cluster snapshot and batch binds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from services.registry.domain.errors import SessionNotFound
from services.registry.domain.model import (
    AGENT_OCCUPYING_STATUSES,
    DEAD_STATUSES,
    Agent,
    Session,
    Status,
)
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import AgentClient, AgentStore, BindOutcome, ClusterEvents
from services.registry.service.session_ports import SessionEnding, SessionQueue


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    session_id: str
    kernels: Mapping[str, str]  # kernel id → agent id
    max_concurrent_sessions: int = 0  # the keypair limit the scheduler applied; 0 = none


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingNote:
    session_id: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchItem:
    kind: str  # "snapshot" | "agent" | "pending" | "removed" | "active" | "ended"
    agents: tuple[Agent, ...] = ()
    sessions: tuple[Session, ...] = ()
    active: tuple[Session, ...] = ()  # snapshot only: sessions holding slots
    session_id: str = ""
    # Pending sessions' dependency outcomes: session id -> dependency id -> outcome.
    dependencies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scheduling:
    store: SessionQueue
    agent_store: AgentStore
    events: ClusterEvents
    starter_wakeup: asyncio.Event
    # Ends preempted sessions and cancels pending ones (their events go through the outbox).
    ending: SessionEnding | None = None
    # Told to destroy the kernels of preempted sessions.
    agents: AgentClient | None = None

    async def watch(self) -> AsyncIterator[WatchItem]:
        """A snapshot, then every change after it (the position is taken before the snapshot,
        so nothing falls between; a change may repeat what the snapshot showed)."""
        position = await self.events.position()
        agents, pending = await self.agent_store.list_agents(), await self.store.list_pending()
        active = await self.store.list_active()
        yield WatchItem(
            kind="snapshot",
            agents=tuple(agents),
            sessions=tuple(pending),
            active=tuple(active),
            dependencies=await self._outcomes(pending),
        )
        async for change in self.events.follow(position):
            if change.kind == "agent" and change.agent is not None:
                yield WatchItem(kind="agent", agents=(change.agent,))
            elif change.kind == "enqueued":
                try:
                    session = await self.store.get(change.session_id)
                except SessionNotFound:
                    continue
                if session.status is Status.PENDING:
                    yield await self._pending_item([session])
            elif change.kind == "session" and change.status != Status.PENDING.value:
                yield await self._left_queue(change.session_id, change.status)
                if change.status in {s.value for s in DEAD_STATUSES}:
                    # Sessions waiting on it are sent again with the dependency's outcome.
                    for dependent in await self.store.pending_dependents(change.session_id):
                        yield await self._pending_item([dependent])

    async def _pending_item(self, sessions: Sequence[Session]) -> WatchItem:
        return WatchItem(
            kind="pending", sessions=tuple(sessions), dependencies=await self._outcomes(sessions)
        )

    async def _outcomes(self, sessions: Sequence[Session]) -> dict[str, dict[str, str]]:
        wanted = sorted({d for s in sessions for d in s.scheduling.dependencies})
        if not wanted:
            return {}
        known = await self.store.dependency_outcomes(wanted)
        return {
            s.session_id: {d: known[d] for d in s.scheduling.dependencies}
            for s in sessions
            if s.scheduling.dependencies
        }

    async def _left_queue(self, session_id: str, status: str) -> WatchItem:
        """A session left PENDING: now holding slots (the limits count it), ended, or neither."""
        if status in {s.value for s in DEAD_STATUSES}:
            return WatchItem(kind="ended", session_id=session_id)
        if status == Status.SCHEDULED.value:
            try:
                session = await self.store.get(session_id)
            except SessionNotFound:
                return WatchItem(kind="ended", session_id=session_id)
            if session.status in AGENT_OCCUPYING_STATUSES:
                return WatchItem(kind="active", session_id=session_id, sessions=(session,))
            if session.status in DEAD_STATUSES:
                return WatchItem(kind="ended", session_id=session_id)
        return WatchItem(kind="removed", session_id=session_id)

    async def bind(
        self, placements: Sequence[Placement], notes: Sequence[PendingNote]
    ) -> list[BindOutcome]:
        """Commit each placement in its own transaction so one conflict spoils no other."""
        outcomes = []
        for p in placements:
            outcome = await self.store.bind(
                p.session_id, p.kernels, max_concurrent_sessions=p.max_concurrent_sessions
            )
            outcomes.append(outcome)
        if any(o.bound for o in outcomes):
            self.starter_wakeup.set()
        for note in notes:
            await self.store.note_unschedulable(note.session_id, note.reason, note.message)
        return outcomes

    async def preempt(self, preemptions: Sequence[tuple[str, str]]) -> list[str]:
        """End each (victim, preemptor) victim with reason "preempted" if the rules allow it
        (docs/scheduling.md): preemptible, strictly lower priority, same domain, holding slots.
        The registry re-checks them: the scheduler's view may be stale."""
        ended: list[str] = []
        for victim_id, by_id in preemptions:
            try:
                victim, by = await self.store.get(victim_id), await self.store.get(by_id)
            except SessionNotFound:
                continue
            if not may_preempt(victim, by) or self.ending is None:
                continue
            targets, change = await self.ending.begin_destroy(
                victim_id, forced=True, reason=PREEMPTED
            )
            if change is None:
                continue
            if self.agents is not None:
                await asyncio.shield(tell_agents(self.agents, targets, PREEMPTED))
            ended.append(victim_id)
        return ended

    async def cancel_pending(self, cancellations: Sequence[PendingNote]) -> list[str]:
        """Cancel the sessions still PENDING (each in its own transaction); their ids."""
        cancelled: list[str] = []
        if self.ending is None:
            return cancelled
        for c in cancellations:
            change = await self.ending.cancel_pending(
                c.session_id, reason=c.reason, message=c.message
            )
            if change is not None:
                cancelled.append(c.session_id)
        return cancelled


PREEMPTED = "preempted"


def may_preempt(victim: Session, by: Session) -> bool:
    return (
        victim.scheduling.preemptible
        and victim.status in AGENT_OCCUPYING_STATUSES
        and victim.status is not Status.TERMINATING
        and by.status is Status.PENDING
        and victim.scheduling.priority < by.scheduling.priority
        and victim.domain_name == by.domain_name
    )
