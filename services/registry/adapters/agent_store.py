"""Agents in PostgreSQL: registration with reconciliation, listing, loss."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.outbox import stage_changes
from services.registry.adapters.resource_group_store import lock_group
from services.registry.adapters.rows import (
    agent_from_row,
    lock_session,
    recompute_occupancy,
    refresh_session_status,
    set_kernel_status,
)
from services.registry.adapters.tables import AgentRow, KernelRow
from services.registry.domain.errors import AgentNotFound
from services.registry.domain.model import DEAD_STATUSES, Agent, AgentStatus, Status
from services.registry.domain.transitions import lost_kernel_status
from services.registry.service.ports import AgentRegistration, SessionChange

# Kernels an agent must still run; SCHEDULED/PREPARING ones may be in flight to it.
_EXPECTED_ON_AGENT = (Status.RUNNING.value, Status.TERMINATING.value)


class SqlAgentStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def register(
        self, reg: AgentRegistration, now: datetime
    ) -> tuple[list[str], list[SessionChange], Agent]:
        """Upsert the agent and reconcile kernels: unknown ones to destroy, vanished ones ended.

        Locks follow rule R-LOCK-ORDER: the group, the sessions of vanished kernels, their
        kernels, and the agent row last (the upsert).
        """

        async def work() -> tuple[list[str], list[SessionChange], Agent]:
            async with self._sessions.begin() as db:
                # Shared lock: the group cannot be deleted while an agent joins it.
                await lock_group(db, reg.resource_group, exclusive=False)
                live = set(reg.live_kernel_ids)
                known = await _kernels_on(db, reg.agent_id)
                to_destroy = sorted(
                    k for k in live if k not in known or Status(known[k]) in DEAD_STATUSES
                )
                vanished = [
                    k for k, s in known.items() if s in _EXPECTED_ON_AGENT and k not in live
                ]
                changes = await end_kernels(db, vanished, "agent-restarted", now)
                await db.execute(_upsert(reg, now))
                agent = agent_from_row((await recompute_occupancy(db, [reg.agent_id]))[0])
                await stage_changes(db, [*changes, _agent_change(agent)])
                return to_destroy, changes, agent

        return await with_retry(work)

    async def list_agents(self) -> list[Agent]:
        async with self._sessions() as db:
            rows = (await db.execute(select(AgentRow).order_by(AgentRow.id))).scalars()
            return [agent_from_row(r) for r in rows]

    async def alive_ids(self) -> list[str]:
        query = select(AgentRow.id).where(AgentRow.status == AgentStatus.ALIVE.value)
        async with self._sessions() as db:
            return sorted((await db.execute(query.order_by(AgentRow.id))).scalars())

    async def get(self, agent_id: str) -> Agent:
        async with self._sessions() as db:
            row = await db.get(AgentRow, agent_id)
            if row is None:
                raise AgentNotFound(f"agent {agent_id} is not registered")
            return agent_from_row(row)

    async def touch(self, agent_id: str, now: datetime) -> Agent | None:
        """The agent if it is known and ALIVE; a LOST agent must register again (reconcile)."""
        del now  # heartbeat times live in Redis, not in this table (rule R-HEARTBEAT-OFF-DB)
        async with self._sessions() as db:
            row = await db.get(AgentRow, agent_id)
            if row is None or row.status != AgentStatus.ALIVE.value:
                return None
            return agent_from_row(row)

    async def touch_many(self, agent_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        # Two columns, no ORM objects: a fleet's batch names every agent every interval.
        async with self._sessions() as db:
            rows = await db.execute(
                select(AgentRow.id, AgentRow.images).where(
                    AgentRow.id.in_(sorted(set(agent_ids))),
                    AgentRow.status == AgentStatus.ALIVE.value,
                )
            )
            return {agent_id: tuple(images) for agent_id, images in rows.tuples()}

    async def set_images(self, agent_id: str, images: Sequence[str]) -> Agent | None:
        wanted = sorted(set(images))
        async with self._sessions.begin() as db:
            row = await db.get(AgentRow, agent_id, with_for_update=True)
            if row is None or row.images == wanted:
                return None
            row.images = wanted
            agent = agent_from_row(row)
            await stage_changes(db, [_agent_change(agent)])
            return agent

    async def mark_lost(self, agent_ids: Sequence[str]) -> list[SessionChange]:
        """Agents that stopped heartbeating: LOST. Their kernels are left alone for the grace
        period (an agent that comes back re-adopts them); then `LostAgentSessions` ends or
        re-queues them (rule R-LOST-GRACE). Only the agent row is locked here."""
        changes: list[SessionChange] = []
        now = datetime.now(UTC)
        for agent_id in agent_ids:
            changes.extend(await with_retry(partial(self._lose, agent_id, now)))
        return changes

    async def _lose(self, agent_id: str, now: datetime) -> list[SessionChange]:
        async with self._sessions.begin() as db:
            row = (
                await db.execute(select(AgentRow).where(AgentRow.id == agent_id).with_for_update())
            ).scalar_one_or_none()
            if row is None or row.status == AgentStatus.LOST.value:
                return []
            row.status = AgentStatus.LOST.value
            row.lost_at = now
            change = _agent_change(agent_from_row(row))
            await stage_changes(db, [change])
            return [change]


def _agent_change(agent: Agent) -> SessionChange:
    return SessionChange(session_id="", status=None, agents=(agent,))


async def _kernels_on(db: AsyncSession, agent_id: str) -> dict[str, str]:
    rows = await db.execute(
        select(KernelRow.id, KernelRow.status).where(KernelRow.agent_id == agent_id)
    )
    return {r.id: r.status for r in rows}


async def _live_kernels_on(db: AsyncSession, agent_id: str) -> list[str]:
    rows = await db.execute(
        select(KernelRow.id).where(
            KernelRow.agent_id == agent_id,
            KernelRow.status.not_in([s.value for s in DEAD_STATUSES]),
        )
    )
    return list(rows.scalars())


async def end_kernels(
    db: AsyncSession, kernel_ids: Sequence[str], reason: str, now: datetime
) -> list[SessionChange]:
    """End kernels whose agent is gone or restarted without them; their sessions are locked
    in id order (rule R-LOCK-ORDER)."""
    if not kernel_ids:
        return []
    rows = await db.execute(
        select(KernelRow.id, KernelRow.session_id).where(KernelRow.id.in_(kernel_ids))
    )
    by_session: dict[str, list[str]] = {}
    for r in rows:
        by_session.setdefault(r.session_id, []).append(r.id)
    changes = []
    for session_id in sorted(by_session):
        session, kernels = await lock_session(db, session_id)
        ended = False
        for kernel in kernels:
            if kernel.id in by_session[session_id]:
                target = lost_kernel_status(Status(kernel.status))
                ended |= set_kernel_status(kernel, target, reason=reason, now=now)
        if ended:
            status = refresh_session_status(session, kernels, reason=reason, now=now)
            changes.append(SessionChange(session_id=session_id, status=status, status_info=reason))
    return changes


def _upsert(reg: AgentRegistration, now: datetime) -> Insert:
    values = {
        "id": reg.agent_id,
        "status": AgentStatus.ALIVE.value,
        "address": reg.address,
        "resource_group": reg.resource_group,
        "available_slots": reg.available_slots.to_strings(),
        "occupied_slots": {},
        "backend": reg.backend,
        "architecture": reg.architecture,
        "images": sorted(set(reg.images)),
        "registered_at": now,
        "last_heartbeat": now,
        # A new registration is a fresh start: drained or failing, it is schedulable again.
        "schedulable": True,
        "unschedulable_reason": "",
        "unschedulable_since": None,
        "start_failures": 0,
        "lost_at": None,
    }
    stmt = insert(AgentRow).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=[AgentRow.id],
        set_={k: stmt.excluded[k] for k in values if k not in ("id", "occupied_slots")},
    )
