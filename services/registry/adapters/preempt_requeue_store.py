"""Preempted sessions that asked for it go back to the queue instead of ending (docs/scheduling.md).

One transaction moves the session to PENDING with fresh kernel ids and frees the slots it held;
the caller then tells the agents to destroy the old kernels. A late event about an old kernel
finds no row (the ids changed), so it cannot touch the next attempt. A preemption is not a
failed start: it does not count towards the start-attempt limit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.outbox import stage_changes
from services.registry.adapters.requeue_store import back_to_pending
from services.registry.adapters.rows import (
    agent_from_row,
    kernel_target,
    lock_session_or_none,
    recompute_occupancy,
)
from services.registry.domain.model import AGENT_OCCUPYING_STATUSES, DEAD_STATUSES, Status
from services.registry.service.ports import KernelTarget, SessionChange

PREEMPTED_REQUEUED = "preempted-requeued"


class SqlPreemptRequeue:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def requeue_preempted(
        self, session_id: str, *, preempted_by: str, now: datetime
    ) -> tuple[list[KernelTarget], SessionChange | None]:
        """Queue the session again; the kernels to destroy and the change (None if it already
        left the agents, e.g. it is terminating or ended meanwhile)."""

        async def work() -> tuple[list[KernelTarget], SessionChange | None]:
            async with self._sessions.begin() as db:
                found = await lock_session_or_none(db, session_id)
                if found is None:
                    return [], None
                session, kernels = found
                status = Status(session.status)
                if status not in AGENT_OCCUPYING_STATUSES or status is Status.TERMINATING:
                    return [], None
                live = [k for k in kernels if Status(k.status) not in DEAD_STATUSES]
                # Taken before back_to_pending gives the kernels new ids.
                targets = [kernel_target(k) for k in live if k.agent_address]
                held_by = [k.agent_id for k in kernels if k.agent_id]
                history = list(session.status_data.get("preemptions", []))
                record = {"at": now.isoformat(), "by": preempted_by}
                session.status_data = {**session.status_data, "preemptions": [*history, record]}
                back_to_pending(session, kernels, now, now)
                for k in kernels:
                    k.status_info = PREEMPTED_REQUEUED
                session.status_info = PREEMPTED_REQUEUED
                session.status_message = (
                    f"preempted by session {preempted_by}; queued again "
                    f"({len(history) + 1} preemption(s) so far)"
                )
                rows = await recompute_occupancy(db, held_by)
                change = SessionChange(
                    session_id=session_id,
                    status=Status.PENDING,
                    status_info=PREEMPTED_REQUEUED,
                    agents=tuple(agent_from_row(r) for r in rows),
                )
                await stage_changes(db, [change])  # rule R-OUTBOX
                return targets, change

        return await with_retry(work)
