"""The scheduler-facing side: the cluster snapshot and batch binds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from services.registry.domain.model import (
    AGENT_OCCUPYING_STATUSES,
    DEAD_STATUSES,
    Agent,
    Session,
    Status,
)
from services.registry.service.ports import (
    AgentStore,
    BindOutcome,
    ClusterChange,
    ClusterEvents,
    PendingNote,
    SessionPlacement,
    SessionStore,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchItem:
    kind: str  # "snapshot" | "agent" | "pending" | "removed" | "active" | "ended"
    agents: tuple[Agent, ...] = ()
    sessions: tuple[Session, ...] = ()
    active: tuple[Session, ...] = ()  # snapshot only: sessions holding slots
    session_id: str = ""


# Changes per watch message at most.
WATCH_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Scheduling:
    store: SessionStore
    agent_store: AgentStore
    events: ClusterEvents
    starter_wakeup: asyncio.Event

    async def watch(self) -> AsyncIterator[list[WatchItem]]:
        """A snapshot, then every change after it (the position is taken before the snapshot,
        so nothing falls between; a change may repeat what the snapshot showed).

        Changes come in batches: whatever arrived while the previous batch was sent, up to
        WATCH_BATCH, with the sessions they name read in one query."""
        position = await self.events.position()
        agents, pending = await self.agent_store.list_agents(), await self.store.list_pending()
        active = await self.store.list_active()
        yield [
            WatchItem(
                kind="snapshot", agents=tuple(agents), sessions=tuple(pending), active=tuple(active)
            )
        ]
        async for changes in _batches(self.events.follow(position)):
            items = await self._items(changes)
            if items:
                yield items

    async def _items(self, changes: Sequence[ClusterChange]) -> list[WatchItem]:
        wanted = [
            c.session_id
            for c in changes
            if c.kind == "enqueued" or (c.kind == "session" and c.status == Status.SCHEDULED.value)
        ]
        sessions = await self.store.get_many(wanted) if wanted else {}
        items: list[WatchItem] = []
        for change in changes:
            if change.kind == "agent" and change.agent is not None:
                items.append(WatchItem(kind="agent", agents=(change.agent,)))
            elif change.kind == "enqueued":
                session = sessions.get(change.session_id)
                if session is not None and session.status is Status.PENDING:
                    items.append(WatchItem(kind="pending", sessions=(session,)))
            elif change.kind == "session" and change.status != Status.PENDING.value:
                items.append(_left_queue(change.session_id, change.status, sessions))
        return items

    async def bind(
        self,
        placements: Sequence[SessionPlacement],
        notes: Sequence[PendingNote],
        *,
        lease_epoch: int = 0,
    ) -> list[BindOutcome]:
        """One transaction for the whole batch; a conflict spoils only its own session. A
        deposed leader (an older lease epoch) binds nothing and records no notes."""
        outcomes = await self.store.bind_many(placements, notes, lease_epoch=lease_epoch)
        for outcome in outcomes:
            if outcome.change is not None:
                await self.events.session_changed(outcome.change)
        if any(o.bound for o in outcomes):
            self.starter_wakeup.set()
        return outcomes


def _left_queue(session_id: str, status: str, sessions: Mapping[str, Session]) -> WatchItem:
    """A session left PENDING: now holding slots (the limits count it), ended, or neither."""
    if status in {s.value for s in DEAD_STATUSES}:
        return WatchItem(kind="ended", session_id=session_id)
    if status == Status.SCHEDULED.value:
        session = sessions.get(session_id)
        if session is None or session.status in DEAD_STATUSES:
            return WatchItem(kind="ended", session_id=session_id)
        if session.status in AGENT_OCCUPYING_STATUSES:
            return WatchItem(kind="active", session_id=session_id, sessions=(session,))
    return WatchItem(kind="removed", session_id=session_id)


async def _batches(changes: AsyncIterator[ClusterChange]) -> AsyncIterator[list[ClusterChange]]:
    """Group what is already waiting: a reader task fills a queue, each batch drains it."""
    queue: asyncio.Queue[ClusterChange | BaseException] = asyncio.Queue(maxsize=WATCH_BATCH * 4)

    async def read() -> None:
        try:
            async for change in changes:
                await queue.put(change)
        except Exception as exc:  # handed to the consumer, which raises it
            await queue.put(exc)

    reader = asyncio.create_task(read(), name="watch-reader")
    try:
        while True:
            batch = [await queue.get()]
            while len(batch) < WATCH_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            changes_only: list[ClusterChange] = []
            for item in batch:
                if isinstance(item, BaseException):
                    raise item
                changes_only.append(item)
            yield changes_only
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
