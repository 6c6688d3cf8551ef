"""The bind transaction: many sessions PENDING → SCHEDULED in one transaction, each on its own.

One transaction and a handful of round trips for a whole batch (docs/scheduler-scale.md): the
fence, the keypair locks, then sessions, kernels and agents each locked with one statement, in
the registry's lock order (keypair, session, kernels, agents). Every session is checked against
what the sessions before it in the batch already took; one that does not fit gets a conflict and
changes nothing, the others still bind.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from libs.db.retry import with_retry
from services.registry.adapters.bind_fence import STALE_LEADER, pass_fence
from services.registry.adapters.outbox import stage_changes
from services.registry.adapters.rows import (
    agent_from_row,
    lock_keypair,
    set_kernel_status,
    set_session_status,
)
from services.registry.adapters.tables import AgentRow, KernelRow, SessionRow
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
            await _note_pending(db, notes)
            await stage_changes(db, [o.change for o in outcomes])  # rule R-OUTBOX
            return outcomes

    if not placements and not notes:
        return []
    return await with_retry(work)


async def _bind_all(db: AsyncSession, placements: Sequence[SessionPlacement]) -> list[BindOutcome]:
    ids = sorted({p.session_id for p in placements})
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
    running = await _running_by_keypair(db, limited)
    rows = {
        r.id: r
        for r in (
            await db.execute(
                select(SessionRow)
                .where(SessionRow.id.in_(ids))
                .order_by(SessionRow.id)
                .with_for_update()
            )
        ).scalars()
    }
    kernels: dict[str, list[KernelRow]] = {}
    for k in (
        await db.execute(
            select(KernelRow)
            .where(KernelRow.session_id.in_(ids))
            .order_by(KernelRow.id)
            .with_for_update()
        )
    ).scalars():
        kernels.setdefault(k.session_id, []).append(k)
    agent_ids = sorted({a for p in placements for a in p.kernels.values()})
    agents = {
        a.id: a
        for a in (
            await db.execute(
                select(AgentRow)
                .where(AgentRow.id.in_(agent_ids))
                .order_by(AgentRow.id)
                .with_for_update()
            )
        ).scalars()
    }
    free = {
        a.id: ResourceSlots(a.available_slots) - ResourceSlots(a.occupied_slots)
        for a in agents.values()
    }
    outcomes: list[BindOutcome] = []
    on_agents: dict[str, list[str]] = {}  # bound session → the agents it went to
    for p in placements:
        session = rows.get(p.session_id)
        if session is None:
            outcomes.append(_conflict(p.session_id, "not-found"))
            continue
        own = kernels.get(session.id, [])
        conflict = _check(session, own, p, agents, free, running)
        if conflict:
            outcomes.append(_conflict(p.session_id, conflict))
            continue
        now = datetime.now(UTC)  # each session's own time of binding, within the batch
        wanted = _wanted(own, p)
        for agent_id, slots in wanted.items():
            free[agent_id] = free[agent_id] - slots
        on_agents[session.id] = sorted(wanted)
        if p.max_concurrent_sessions > 0:
            running[session.access_key] += 1
        for k in own:
            k.agent_id = p.kernels[k.id]
            k.agent_address = agents[k.agent_id].address
            set_kernel_status(k, Status.SCHEDULED, reason="scheduled", now=now)
        set_session_status(session, Status.SCHEDULED, reason="scheduled", now=now, message="")
        if session.max_lifetime_seconds > 0:
            session.expires_at = now + timedelta(seconds=session.max_lifetime_seconds)
        outcomes.append(BindOutcome(session_id=session.id, bound=True))
    await db.flush()
    touched = sorted({a for ids in on_agents.values() for a in ids})
    await _recompute_occupancy(db, [agents[a] for a in touched])
    after = {a: agent_from_row(agents[a]) for a in touched}
    return [_with_change(o, on_agents, after) for o in outcomes]


async def _note_pending(db: AsyncSession, notes: Sequence[PendingNote]) -> None:
    """One pipelined statement for all notes; a session that left PENDING keeps its status."""
    if not notes:
        return
    table = cast(Table, SessionRow.__table__)
    now = datetime.now(UTC).isoformat()
    stmt = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.status == Status.PENDING.value)
        .values(
            status_info=bindparam("b_reason"),
            status_message=bindparam("b_message"),
            status_data=table.c.status_data.op("||")(bindparam("b_data", type_=JSONB)),
        )
    )
    await db.execute(
        stmt,
        [
            {
                "b_id": n.session_id,
                "b_reason": n.reason,
                "b_message": n.message,
                "b_data": {"scheduler": {"last_try": now, "msg": n.message}},
            }
            for n in notes
        ],
    )


def _check(
    session: SessionRow,
    kernels: list[KernelRow],
    p: SessionPlacement,
    agents: dict[str, AgentRow],
    free: dict[str, ResourceSlots],
    running: Counter[str],
) -> str:
    if session.status != Status.PENDING.value or session.not_before is not None:
        return "session-not-pending"  # or re-queued and still backing off (rule R-REQUEUE)
    if {k.id for k in kernels} != set(p.kernels):
        return "kernel-set-mismatch"
    if p.max_concurrent_sessions > 0 and running[session.access_key] >= p.max_concurrent_sessions:
        return CONCURRENCY_LIMIT
    for agent_id, wanted in sorted(_wanted(kernels, p).items()):
        row = agents.get(agent_id)
        # The agent as the batch left it: what earlier sessions of the batch took is occupied.
        view = None
        if row is not None:
            view = agent_from_row(row)
            view = dataclasses.replace(view, occupied_slots=view.available_slots - free[agent_id])
        conflict = placement_conflict(
            view,
            resource_group=session.resource_group,
            image_architectures=session.image_architectures or (),
            wanted=wanted,
        )
        if conflict:
            return conflict
    return ""


def _wanted(kernels: list[KernelRow], p: SessionPlacement) -> dict[str, ResourceSlots]:
    wanted: dict[str, ResourceSlots] = {}
    for k in kernels:
        agent_id = p.kernels[k.id]
        wanted[agent_id] = wanted.get(agent_id, ResourceSlots()) + ResourceSlots(k.requested_slots)
    return wanted


async def _running_by_keypair(db: AsyncSession, access_keys: list[str]) -> Counter[str]:
    if not access_keys:
        return Counter()
    rows = await db.execute(
        select(SessionRow.access_key, func.count())
        .where(SessionRow.access_key.in_(access_keys), SessionRow.status.in_(_OCCUPYING))
        .group_by(SessionRow.access_key)
    )
    return Counter({key: int(n) for key, n in rows.tuples()})


async def _recompute_occupancy(db: AsyncSession, agents: list[AgentRow]) -> None:
    """Occupied = the sum of the agents' live kernels (derived, never incremented), for all
    touched agents with one query; the agents are already locked."""
    if not agents:
        return
    totals = {a.id: ResourceSlots() for a in agents}
    rows = await db.execute(
        select(KernelRow.agent_id, KernelRow.requested_slots).where(
            KernelRow.agent_id.in_(list(totals)), KernelRow.status.in_(_OCCUPYING)
        )
    )
    for agent_id, slots in rows.tuples():
        if agent_id is not None:
            totals[agent_id] = totals[agent_id] + ResourceSlots(slots)
    for agent in agents:
        agent.occupied_slots = totals[agent.id].to_strings()


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
