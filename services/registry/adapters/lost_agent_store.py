"""Sessions on agents lost for longer than the grace: ended "agent-lost", or re-queued when
they asked for it (rule R-LOST-GRACE). Lock order: session, its kernels, then agents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.agent_store import end_kernels
from services.registry.adapters.outbox import stage_changes
from services.registry.adapters.requeue_store import back_to_pending
from services.registry.adapters.rows import (
    agent_from_row,
    kernel_target,
    lock_session_or_none,
    recompute_occupancy,
)
from services.registry.adapters.tables import AgentRow, KernelRow
from services.registry.domain.model import DEAD_STATUSES, AgentStatus, Status
from services.registry.service.ports import KernelTarget, SessionChange

AGENT_LOST = "agent-lost"


class SqlLostAgentSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def settle(
        self, lost_before: datetime, now: datetime
    ) -> tuple[list[SessionChange], list[KernelTarget]]:
        """End or re-queue every live session with a kernel on an agent LOST before
        `lost_before`; return the changes and the kernels on other agents to destroy."""
        async with self._sessions() as db:
            session_ids = list(
                (
                    await db.execute(
                        select(KernelRow.session_id)
                        .join(AgentRow, AgentRow.id == KernelRow.agent_id)
                        .where(
                            AgentRow.status == AgentStatus.LOST.value,
                            AgentRow.lost_at < lost_before,
                            KernelRow.status.not_in([s.value for s in DEAD_STATUSES]),
                        )
                        .distinct()
                    )
                ).scalars()
            )
        changes: list[SessionChange] = []
        targets: list[KernelTarget] = []
        for session_id in session_ids:

            async def work(
                sid: str = session_id,
            ) -> tuple[SessionChange | None, list[KernelTarget]]:
                return await self._settle_one(sid, lost_before, now)

            change, destroy = await with_retry(work)
            if change is not None:
                changes.append(change)
            targets += destroy
        return changes, targets

    async def _settle_one(
        self, session_id: str, lost_before: datetime, now: datetime
    ) -> tuple[SessionChange | None, list[KernelTarget]]:
        async with self._sessions.begin() as db:
            found = await lock_session_or_none(db, session_id)
            if found is None:
                return None, []
            session, kernels = found
            lost = set(
                (
                    await db.execute(
                        select(AgentRow.id).where(
                            AgentRow.id.in_({k.agent_id for k in kernels if k.agent_id}),
                            AgentRow.status == AgentStatus.LOST.value,
                            AgentRow.lost_at < lost_before,
                        )
                    )
                ).scalars()
            )
            live = [k for k in kernels if Status(k.status) not in DEAD_STATUSES]
            on_lost = [k for k in live if k.agent_id in lost]
            if not on_lost:
                return None, []  # the agent came back, or the session ended meanwhile
            elsewhere = [
                kernel_target(k) for k in live if k.agent_id not in lost and k.agent_address
            ]
            held_by = [k.agent_id for k in kernels if k.agent_id]
            if session.requeue_on_agent_loss:
                session.start_attempts += 1
                back_to_pending(session, kernels, now, now)
                session.status_info = AGENT_LOST
                session.status_message = "an agent running the session was lost; queued again"
                rows = await recompute_occupancy(db, held_by)
                requeued = SessionChange(
                    session_id=session_id,
                    status=Status.PENDING,
                    status_info=AGENT_LOST,
                    agents=tuple(agent_from_row(r) for r in rows),
                )
                await stage_changes(db, [requeued])  # rule R-OUTBOX
                return requeued, elsewhere
            ended = await end_kernels(db, [k.id for k in on_lost], AGENT_LOST, now)
            status = next((c.status for c in ended if c.status is not None), None)
            rows = await recompute_occupancy(db, held_by)
            change = SessionChange(
                session_id=session_id,
                status=status,
                status_info=AGENT_LOST,
                agents=tuple(agent_from_row(r) for r in rows),
            )
            await stage_changes(db, [change])  # rule R-OUTBOX
            return change, elsewhere
