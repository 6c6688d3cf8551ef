"""The scheduler-facing side: the cluster snapshot and its changes, batch binds, preemption and
cancelling pending sessions. Every state change here writes its events through the outbox in
its own transaction (rule R-OUTBOX); nothing is published from this module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from services.registry.domain.errors import SessionNotFound
from services.registry.domain.model import (
    AGENT_OCCUPYING_STATUSES,
    DEAD_STATUSES,
    Agent,
    Session,
    Status,
)
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import (
    AgentClient,
    AgentStore,
    BindOutcome,
    ClusterChange,
    ClusterEvents,
    KernelTarget,
    PendingNote,
    SessionChange,
    SessionPlacement,
)
from services.registry.service.session_ports import SessionEnding, SessionQueue
from services.registry.service.watch_batches import batches
from services.registry.service.watch_holders import SlotHolder, SlotHolders

_DEAD = {s.value for s in DEAD_STATUSES}


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchItem:
    kind: str  # "snapshot" | "agent" | "pending" | "removed" | "active" | "ended"
    agents: tuple[Agent, ...] = ()
    sessions: tuple[Session, ...] = ()
    active: tuple[Session, ...] = ()  # snapshot only: sessions holding slots
    session_id: str = ""
    holder: SlotHolder | None = None  # "active" only
    # Pending sessions' dependency outcomes: session id -> dependency id -> outcome.
    dependencies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class PreemptRequeue(Protocol):
    async def requeue_preempted(
        self, session_id: str, *, preempted_by: str, now: datetime
    ) -> tuple[list[KernelTarget], SessionChange | None]:
        """Queue a preempted session again (it asked to be); the kernels to destroy."""
        ...


@dataclass(frozen=True, slots=True)
class Scheduling:
    store: SessionQueue
    agent_store: AgentStore
    events: ClusterEvents
    starter_wakeup: asyncio.Event
    # Ends preempted sessions and cancels pending ones.
    ending: SessionEnding | None = None
    # Told to destroy the kernels of preempted sessions.
    agents: AgentClient | None = None
    # Queues preempted sessions that asked for it (requeue_on_preemption) instead of ending them.
    requeue: PreemptRequeue | None = None
    # The watch's lean read of sessions that left the queue (else whole sessions are read).
    holders: SlotHolders | None = None

    async def watch(self) -> AsyncIterator[list[WatchItem]]:
        """A snapshot, then every change after it (the position is taken before the snapshot,
        so nothing falls between; a change may repeat what the snapshot showed).

        Changes come in batches: whatever arrived while the previous batch was sent, up to
        WATCH_BATCH, with the sessions they name read in one query."""
        position = await self.events.position()
        agents, pending = await self.agent_store.list_agents(), await self.store.list_pending()
        active = await self.store.list_active()
        snapshot = WatchItem(
            kind="snapshot",
            agents=tuple(agents),
            sessions=tuple(pending),
            active=tuple(active),
            dependencies=await self._outcomes(pending),
        )
        yield [snapshot]
        async for changes in batches(self.events.follow(position)):
            items = await self._items(changes)
            if items:
                yield items

    async def _items(self, changes: Sequence[ClusterChange]) -> list[WatchItem]:
        enqueued = [c.session_id for c in changes if c.kind == "enqueued"]
        sessions = await self.store.get_many(enqueued) if enqueued else {}
        holders = await self._holders(
            [
                c.session_id
                for c in changes
                if c.kind == "session" and c.status == Status.SCHEDULED.value
            ]
        )
        items: list[WatchItem] = []
        for change in changes:
            if change.kind == "agent" and change.agent is not None:
                items.append(WatchItem(kind="agent", agents=(change.agent,)))
            elif change.kind == "enqueued":
                session = sessions.get(change.session_id)
                if session is not None and session.status is Status.PENDING:
                    items.append(await self._pending_item([session]))
            elif change.kind == "session" and change.status == Status.PENDING.value:
                # Back in the queue after a failed start: it holds no slots any more. The
                # scheduler sees it again when its backoff ends ("enqueued", rule R-REQUEUE).
                items.append(WatchItem(kind="ended", session_id=change.session_id))
            elif change.kind == "session":
                items.append(_left_queue(change.session_id, change.status, holders))
                if change.status in _DEAD:
                    # Sessions waiting on it are sent again with the dependency's outcome.
                    dependents = await self.store.pending_dependents(change.session_id)
                    if dependents:
                        items.append(await self._pending_item(dependents))
        return items

    async def _holders(self, session_ids: Sequence[str]) -> dict[str, SlotHolder]:
        if not session_ids:
            return {}
        if self.holders is not None:
            return await self.holders.get_holders(session_ids)
        found = await self.store.get_many(session_ids)
        return {sid: SlotHolder.of(s) for sid, s in found.items()}

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
        if any(o.bound for o in outcomes):
            self.starter_wakeup.set()
        return outcomes

    async def preempt(self, preemptions: Sequence[tuple[str, str]]) -> list[str]:
        """End each (victim, preemptor) victim with reason "preempted" if the rules allow it
        (docs/scheduling.md): preemptible, strictly lower priority, same domain, holding slots.
        The registry re-checks them: the scheduler's view may be stale."""
        ended: list[str] = []
        if self.ending is None:
            return ended
        for victim_id, by_id in preemptions:
            try:
                victim, by = await self.store.get(victim_id), await self.store.get(by_id)
            except SessionNotFound:
                continue
            if not may_preempt(victim, by):
                continue
            if victim.scheduling.requeue_on_preemption and self.requeue is not None:
                targets, change = await self.requeue.requeue_preempted(
                    victim_id, preempted_by=by_id, now=datetime.now(UTC)
                )
            else:
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


def _left_queue(session_id: str, status: str, holders: Mapping[str, SlotHolder]) -> WatchItem:
    """A session left PENDING: now holding slots (the limits count it), ended, or neither."""
    if status in _DEAD:
        return WatchItem(kind="ended", session_id=session_id)
    if status == Status.SCHEDULED.value:
        holder = holders.get(session_id)
        if holder is None or holder.status in DEAD_STATUSES:
            return WatchItem(kind="ended", session_id=session_id)
        if holder.status in AGENT_OCCUPYING_STATUSES:
            return WatchItem(kind="active", session_id=session_id, holder=holder)
    return WatchItem(kind="removed", session_id=session_id)
