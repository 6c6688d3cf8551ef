"""Agents in PostgreSQL: registration with reconciliation, listing, loss."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
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
from services.registry.service.ports import AgentRegistration, SessionChange

# Kernels an agent must still run; SCHEDULED/PREPARING ones may be in flight to it.
_EXPECTED_ON_AGENT = (Status.RUNNING.value, Status.TERMINATING.value)


class SqlAgentStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def register(
        self, reg: AgentRegistration, now: datetime
    ) -> tuple[list[str], list[SessionChange], Agent]:
        """Upsert the agent and reconcile kernels: unknown ones to destroy, vanished ones ended."""

        async def work() -> tuple[list[str], list[SessionChange], Agent]:
            async with self._sessions.begin() as db:
                # Shared lock: the group cannot be deleted while an agent joins it.
                await lock_group(db, reg.resource_group, exclusive=False)
                await db.execute(_upsert(reg, now))
                live = set(reg.live_kernel_ids)
                known = {
                    r.id: r.status
                    for r in (
                        await db.execute(
                            select(KernelRow.id, KernelRow.status).where(
                                KernelRow.agent_id == reg.agent_id
                            )
                        )
                    )
                }
                to_destroy = sorted(
                    k for k in live if k not in known or Status(known[k]) in DEAD_STATUSES
                )
                vanished = sorted(
                    k for k, s in known.items() if s in _EXPECTED_ON_AGENT and k not in live
                )
                changes = [await end_kernel(db, k, "agent-restarted", now) for k in vanished]
                agent = (await recompute_occupancy(db, [reg.agent_id]))[0]
                return to_destroy, [c for c in changes if c], agent_from_row(agent)

        return await with_retry(work)

    async def list_agents(self) -> list[Agent]:
        async with self._sessions() as db:
            rows = (await db.execute(select(AgentRow).order_by(AgentRow.id))).scalars()
            return [agent_from_row(r) for r in rows]

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

    async def set_images(self, agent_id: str, images: Sequence[str]) -> Agent | None:
        wanted = sorted(set(images))
        async with self._sessions.begin() as db:
            row = await db.get(AgentRow, agent_id, with_for_update=True)
            if row is None or row.images == wanted:
                return None
            row.images = wanted
            return agent_from_row(row)

    async def mark_lost(self, agent_ids: Sequence[str]) -> list[SessionChange]:
        """Agents that stopped heartbeating: LOST. Their kernels are left alone for the grace
        period (an agent that comes back re-adopts them); then `LostAgentSessions` ends or
        re-queues them (rule R-LOST-GRACE)."""
        changes: list[SessionChange] = []
        now = datetime.now(UTC)
        for agent_id in agent_ids:

            async def work(agent_id: str = agent_id) -> list[SessionChange]:
                async with self._sessions.begin() as db:
                    row = (
                        await db.execute(
                            select(AgentRow).where(AgentRow.id == agent_id).with_for_update()
                        )
                    ).scalar_one_or_none()
                    if row is None or row.status == AgentStatus.LOST.value:
                        return []
                    row.status = AgentStatus.LOST.value
                    row.lost_at = now
                    return [
                        SessionChange(session_id="", status=None, agents=(agent_from_row(row),))
                    ]

            changes.extend(await with_retry(work))
        return changes


async def end_kernel(
    db: AsyncSession, kernel_id: str, reason: str, now: datetime
) -> SessionChange | None:
    session_id = (
        await db.execute(select(KernelRow.session_id).where(KernelRow.id == kernel_id))
    ).scalar_one()
    session, kernels = await lock_session(db, session_id)
    kernel = next(k for k in kernels if k.id == kernel_id)
    current = Status(kernel.status)
    target = Status.TERMINATED if current in (Status.RUNNING, Status.TERMINATING) else Status.ERROR
    if not set_kernel_status(kernel, target, reason=reason, now=now):
        return None
    status = refresh_session_status(session, kernels, reason=reason, now=now)
    return SessionChange(session_id=session_id, status=status, status_info=reason)


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
