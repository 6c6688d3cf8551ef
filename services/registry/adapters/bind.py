"""The bind transaction: many sessions PENDING → SCHEDULED in one transaction, each on its own.

One transaction and a fixed number of round trips for a whole batch, whatever its size
(docs/scheduler-scale.md): the fence, the keypair locks, then sessions, kernels and agents each
locked with one statement in the registry's lock order (keypair, session, kernels, agents),
then one statement per table for the writes (`bind_sql.py`). Every session is checked against
what the sessions before it in the batch already took; one that does not fit gets a conflict
and changes nothing, the others still bind.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from shipyard.events.v1 import events_pb2
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from libs.db.retry import with_retry
from services.registry.adapters.bind_fence import STALE_LEADER, pass_fence
from services.registry.adapters.bind_sql import (
    KernelBind,
    LockedKernel,
    LockedSession,
    SlotsMemo,
    lock_agents,
    lock_kernels,
    lock_sessions,
    mark_scheduled,
    note_pending,
    occupancy_of,
    write_occupancy,
)
from services.registry.adapters.outbox import agent_event, stage, status_event
from services.registry.adapters.rows import lock_keypair
from services.registry.adapters.tables import SessionRow
from services.registry.domain.model import (
    AGENT_OCCUPYING_STATUSES,
    CONCURRENCY_LIMIT,
    Agent,
    Status,
)
from services.registry.domain.placement import placement_conflict
from services.registry.service.ports import (
    BindOutcome,
    PendingNote,
    SessionChange,
    SessionPlacement,
)

_OCCUPYING = [s.value for s in AGENT_OCCUPYING_STATUSES]


async def bind_sessions(
    sessions: async_sessionmaker[AsyncSession],
    placements: Sequence[SessionPlacement],
    notes: Sequence[PendingNote] = (),
    *,
    lease_epoch: int = 0,
) -> list[BindOutcome]:
    """Bind what fits, in request order, and record the notes of sessions left pending; do
    nothing when `lease_epoch` is older than the newest one seen (a deposed leader: rule
    R-FENCED-BIND). Epoch 0 is unfenced."""

    async def work() -> list[BindOutcome]:
        async with sessions.begin() as db:
            if lease_epoch > 0 and not await pass_fence(db, lease_epoch):
                return [_conflict(p.session_id, STALE_LEADER) for p in placements]
            outcomes = await _bind_all(db, placements) if placements else []
            await note_pending(
                db, [(n.session_id, n.reason, n.message) for n in notes], datetime.now(UTC)
            )
            await stage(db, _events(outcomes))  # rule R-OUTBOX
            return outcomes

    if not placements and not notes:
        return []
    return await with_retry(work)


async def _bind_all(db: AsyncSession, placements: Sequence[SessionPlacement]) -> list[BindOutcome]:
    ids = sorted({p.session_id for p in placements})
    running: Counter[str] = Counter()
    if any(p.max_concurrent_sessions > 0 for p in placements):
        running = await _lock_limited_keypairs(db, placements, ids)
    memo = SlotsMemo()  # parses each distinct slot map of the batch once
    rows = await lock_sessions(db, ids)
    kernels = await lock_kernels(db, ids, memo)
    agents = await lock_agents(
        db, sorted({a for p in placements for a in p.kernels.values()}), memo
    )
    free = {a.agent_id: a.available_slots - a.occupied_slots for a in agents.values()}
    outcomes: list[BindOutcome] = []
    on_agents: dict[str, list[str]] = {}  # bound session → the agents it went to
    scheduled: list[tuple[str, datetime]] = []
    kernel_binds: list[KernelBind] = []
    for p in placements:
        session = rows.get(p.session_id)
        if session is None:
            outcomes.append(_conflict(p.session_id, "not-found"))
            continue
        own = kernels.get(session.id, [])
        wanted = _wanted(own, p)
        # A session twice in the batch: the second sees it already SCHEDULED.
        conflict = "session-not-pending" if session.id in on_agents else ""
        conflict = conflict or _check(session, own, p, wanted, agents, free, running)
        if conflict:
            outcomes.append(_conflict(p.session_id, conflict))
            continue
        now = datetime.now(UTC)  # each session's own time of binding, within the batch
        for agent_id, slots in wanted.items():
            free[agent_id] = free[agent_id] - slots
        on_agents[session.id] = sorted(wanted)
        if p.max_concurrent_sessions > 0:
            running[session.access_key] += 1
        scheduled.append((session.id, now))
        kernel_binds.extend(
            KernelBind(k.id, p.kernels[k.id], agents[p.kernels[k.id]].address, now) for k in own
        )
        outcomes.append(BindOutcome(session_id=session.id, bound=True))
    await mark_scheduled(db, scheduled, kernel_binds)
    touched = sorted({a for ids in on_agents.values() for a in ids})
    occupied = await occupancy_of(db, touched, memo)
    await write_occupancy(db, occupied)
    after = {a: dataclasses.replace(agents[a], occupied_slots=occupied[a]) for a in touched}
    return [_with_change(o, on_agents, after) for o in outcomes]


async def _lock_limited_keypairs(
    db: AsyncSession, placements: Sequence[SessionPlacement], ids: list[str]
) -> Counter[str]:
    """Lock the keypairs with a concurrency limit (before any row lock) and count their
    occupying sessions."""
    access_keys = dict(
        (
            await db.execute(
                select(SessionRow.id, SessionRow.access_key).where(SessionRow.id.in_(ids))
            )
        )
        .tuples()
        .all()
    )
    limited = sorted(
        {
            access_keys[p.session_id]
            for p in placements
            if p.max_concurrent_sessions > 0 and p.session_id in access_keys
        }
    )
    for access_key in limited:
        await lock_keypair(db, access_key)
    if not limited:
        return Counter()
    rows = await db.execute(
        select(SessionRow.access_key, func.count())
        .where(SessionRow.access_key.in_(limited), SessionRow.status.in_(_OCCUPYING))
        .group_by(SessionRow.access_key)
    )
    return Counter({key: int(n) for key, n in rows.tuples()})


def _check(
    session: LockedSession,
    kernels: list[LockedKernel],
    p: SessionPlacement,
    wanted: dict[str, ResourceSlots],
    agents: dict[str, Agent],
    free: dict[str, ResourceSlots],
    running: Counter[str],
) -> str:
    if session.status != Status.PENDING.value or session.not_before is not None:
        return "session-not-pending"  # or re-queued and still backing off (rule R-REQUEUE)
    if {k.id for k in kernels} != set(p.kernels):
        return "kernel-set-mismatch"
    if p.max_concurrent_sessions > 0 and running[session.access_key] >= p.max_concurrent_sessions:
        return CONCURRENCY_LIMIT
    for agent_id, slots in sorted(wanted.items()):
        # The agent as the batch left it: what earlier sessions of the batch took is not free.
        conflict = placement_conflict(
            agents.get(agent_id),
            resource_group=session.resource_group,
            image_architectures=session.image_architectures,
            wanted=slots,
            free=free.get(agent_id),
        )
        if conflict:
            return conflict
    return ""


def _wanted(kernels: list[LockedKernel], p: SessionPlacement) -> dict[str, ResourceSlots]:
    """What the session's kernels take of each agent; {} when the kernel sets differ."""
    if {k.id for k in kernels} != set(p.kernels):
        return {}
    if len(kernels) == 1:  # the common case, without a sum
        return {p.kernels[kernels[0].id]: kernels[0].requested_slots}
    wanted: dict[str, ResourceSlots] = {}
    for k in kernels:
        agent_id = p.kernels[k.id]
        wanted[agent_id] = wanted.get(agent_id, ResourceSlots()) + k.requested_slots
    return wanted


def _events(outcomes: Sequence[BindOutcome]) -> list[events_pb2.Event]:
    """Each touched agent once, with its occupancy after the batch, before every session
    change: a watcher that sees a session leave the queue already knows the occupancy that
    placed it (as `change_events` orders one change)."""
    agents: dict[str, Agent] = {}
    sessions: list[events_pb2.Event] = []
    for o in outcomes:
        if o.change is not None:
            agents.update((a.agent_id, a) for a in o.change.agents)
            if (status := status_event(o.change)) is not None:
                sessions.append(status)
    return [*(agent_event(a) for a in agents.values()), *sessions]


def _with_change(
    outcome: BindOutcome, on_agents: dict[str, list[str]], agents: dict[str, Agent]
) -> BindOutcome:
    """A bound session's change carries its agents' occupancy after the whole batch."""
    if not outcome.bound:
        return outcome
    return BindOutcome(
        session_id=outcome.session_id,
        bound=True,
        change=SessionChange(
            session_id=outcome.session_id,
            status=Status.SCHEDULED,
            status_info="scheduled",
            agents=tuple(agents[a] for a in on_agents[outcome.session_id]),
        ),
    )


def _conflict(session_id: str, reason: str) -> BindOutcome:
    return BindOutcome(session_id=session_id, bound=False, conflict=reason)
