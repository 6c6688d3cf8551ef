"""The scheduler-facing side: the cluster snapshot and batch binds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from services.registry.domain.errors import SessionNotFound
from services.registry.domain.model import (
    AGENT_OCCUPYING_STATUSES,
    DEAD_STATUSES,
    Agent,
    Session,
    Status,
)
from services.registry.service.ports import AgentStore, BindOutcome, ClusterEvents, SessionStore


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


@dataclass(frozen=True, slots=True)
class Scheduling:
    store: SessionStore
    agent_store: AgentStore
    events: ClusterEvents
    starter_wakeup: asyncio.Event

    async def watch(self) -> AsyncIterator[WatchItem]:
        """A snapshot, then every change after it (the position is taken before the snapshot,
        so nothing falls between; a change may repeat what the snapshot showed)."""
        position = await self.events.position()
        agents, pending = await self.agent_store.list_agents(), await self.store.list_pending()
        active = await self.store.list_active()
        yield WatchItem(
            kind="snapshot", agents=tuple(agents), sessions=tuple(pending), active=tuple(active)
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
                    yield WatchItem(kind="pending", sessions=(session,))
            elif change.kind == "session" and change.status == Status.PENDING.value:
                # Back in the queue after a failed start: it holds no slots any more. The
                # scheduler sees it again when its backoff ends ("enqueued").
                yield WatchItem(kind="ended", session_id=change.session_id)
            elif change.kind == "session":
                yield await self._left_queue(change.session_id, change.status)

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
            if outcome.change is not None:
                await self.events.session_changed(outcome.change)
            outcomes.append(outcome)
        if any(o.bound for o in outcomes):
            self.starter_wakeup.set()
        for note in notes:
            await self.store.note_unschedulable(note.session_id, note.reason, note.message)
        return outcomes
