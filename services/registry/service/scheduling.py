"""The scheduler-facing side: the cluster snapshot and batch binds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from services.registry.domain.errors import SessionNotFound
from services.registry.domain.model import Agent, Session, Status
from services.registry.service.ports import AgentStore, BindOutcome, ClusterEvents, SessionStore


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    session_id: str
    kernels: Mapping[str, str]  # kernel id → agent id


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingNote:
    session_id: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchItem:
    kind: str  # "snapshot" | "agent" | "pending" | "removed"
    agents: tuple[Agent, ...] = ()
    sessions: tuple[Session, ...] = ()
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
        yield WatchItem(kind="snapshot", agents=tuple(agents), sessions=tuple(pending))
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
            elif change.kind == "session" and change.status != Status.PENDING.value:
                yield WatchItem(kind="removed", session_id=change.session_id)

    async def bind(
        self, placements: Sequence[Placement], notes: Sequence[PendingNote]
    ) -> list[BindOutcome]:
        """Commit each placement in its own transaction so one conflict spoils no other."""
        outcomes = []
        for p in placements:
            outcome = await self.store.bind(p.session_id, p.kernels)
            if outcome.change is not None:
                await self.events.session_changed(outcome.change)
            outcomes.append(outcome)
        if any(o.bound for o in outcomes):
            self.starter_wakeup.set()
        for note in notes:
            await self.store.note_unschedulable(note.session_id, note.reason, note.message)
        return outcomes
