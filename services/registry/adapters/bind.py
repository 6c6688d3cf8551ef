"""The bind transaction: PENDING → SCHEDULED once capacity and the keypair's limit allow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from libs.db.retry import with_retry
from services.registry.adapters.rows import (
    agent_from_row,
    count_sessions,
    lock_keypair,
    lock_session_or_none,
    recompute_occupancy,
    set_kernel_status,
    set_session_status,
)
from services.registry.adapters.tables import AgentRow, KernelRow, SessionRow
from services.registry.domain.model import (
    AGENT_OCCUPYING_STATUSES,
    CONCURRENCY_LIMIT,
    AgentStatus,
    Status,
)
from services.registry.service.ports import BindOutcome, SessionChange


async def bind_session(
    sessions: async_sessionmaker[AsyncSession],
    session_id: str,
    placements: Mapping[str, str],
    *,
    max_concurrent_sessions: int = 0,
) -> BindOutcome:
    """PENDING → SCHEDULED with kernels placed, if the agents still have room and the
    keypair stays within `max_concurrent_sessions` (counted from the table, under a
    per-keypair lock: racing binds, retries and crashes cannot make it drift)."""

    async def work() -> BindOutcome:
        now = datetime.now(UTC)
        async with sessions.begin() as db:
            access_key = (
                await db.execute(select(SessionRow.access_key).where(SessionRow.id == session_id))
            ).scalar_one_or_none()
            if access_key is None:
                return BindOutcome(session_id=session_id, bound=False, conflict="not-found")
            if max_concurrent_sessions > 0:
                await lock_keypair(db, access_key)
            found = await lock_session_or_none(db, session_id)
            if found is None:
                return BindOutcome(session_id=session_id, bound=False, conflict="not-found")
            session, kernels = found
            if session.status != Status.PENDING.value or session.not_before is not None:
                return BindOutcome(
                    session_id=session_id, bound=False, conflict="session-not-pending"
                )
            if {k.id for k in kernels} != set(placements):
                return BindOutcome(
                    session_id=session_id, bound=False, conflict="kernel-set-mismatch"
                )
            if max_concurrent_sessions > 0:
                running = await count_sessions(db, access_key, AGENT_OCCUPYING_STATUSES)
                if running >= max_concurrent_sessions:
                    return BindOutcome(
                        session_id=session_id, bound=False, conflict=CONCURRENCY_LIMIT
                    )
            conflict = await _check_capacity(db, session, kernels, placements)
            if conflict:
                return BindOutcome(session_id=session_id, bound=False, conflict=conflict)
            addresses = await _addresses(db, placements.values())
            for k in kernels:
                k.agent_id = placements[k.id]
                k.agent_address = addresses[k.agent_id]
                set_kernel_status(k, Status.SCHEDULED, reason="scheduled", now=now)
            status = set_session_status(
                session, Status.SCHEDULED, reason="scheduled", now=now, message=""
            )
            if session.max_lifetime_seconds > 0:
                session.expires_at = now + timedelta(seconds=session.max_lifetime_seconds)
            agents = await recompute_occupancy(db, placements.values())
            change = SessionChange(
                session_id=session_id,
                status=status,
                status_info="scheduled",
                agents=tuple(agent_from_row(a) for a in agents),
            )
            return BindOutcome(session_id=session_id, bound=True, change=change)

    return await with_retry(work)


async def _check_capacity(
    db: AsyncSession, session: SessionRow, kernels: list[KernelRow], placements: Mapping[str, str]
) -> str:
    wanted: dict[str, ResourceSlots] = {}
    for k in kernels:
        agent_id = placements[k.id]
        wanted[agent_id] = wanted.get(agent_id, ResourceSlots()) + ResourceSlots(k.requested_slots)
    for agent_id in sorted(wanted):
        agent = (
            await db.execute(select(AgentRow).where(AgentRow.id == agent_id).with_for_update())
        ).scalar_one_or_none()
        if agent is None or agent.status != AgentStatus.ALIVE.value:
            return "agent-not-alive"
        if not agent.schedulable:
            return "agent-unschedulable"
        if agent.resource_group != session.resource_group:
            return "agent-resource-group-mismatch"
        archs = session.image_architectures
        if archs and agent.architecture not in archs:
            return "agent-architecture-mismatch"
        free = ResourceSlots(agent.available_slots) - ResourceSlots(agent.occupied_slots)
        if not wanted[agent_id].fits_in(free):
            return "agent-capacity-exceeded"
    return ""


async def _addresses(db: AsyncSession, agent_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(agent_ids))
    rows = await db.execute(select(AgentRow.id, AgentRow.address).where(AgentRow.id.in_(ids)))
    return {r.id: r.address for r in rows}
