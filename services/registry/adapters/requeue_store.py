"""Failed starts back to the queue (rule R-REQUEUE), in one transaction with the slots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.ids import new_id
from libs.db.retry import with_retry
from services.registry.adapters.agent_health_store import count_failed_starts
from services.registry.adapters.outbox import enqueued_event, stage, stage_changes
from services.registry.adapters.rows import (
    agent_from_row,
    lock_session_or_none,
    recompute_occupancy,
    set_kernel_status,
    set_session_status,
)
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.domain.model import Status
from services.registry.domain.schedulability import SchedulabilityPolicy
from services.registry.domain.start_failures import (
    REQUEUEABLE,
    START_ATTEMPTS_EXHAUSTED,
    START_REQUEUED,
    RetryPolicy,
)
from services.registry.service.ports import SessionChange


class SqlStartRetries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def requeue(
        self,
        session_id: str,
        *,
        error: str,
        failed_agent_ids: Sequence[str],
        retry: RetryPolicy,
        agents: SchedulabilityPolicy,
        now: datetime,
    ) -> SessionChange | None:
        async def work() -> SessionChange | None:
            async with self._sessions.begin() as db:
                found = await lock_session_or_none(db, session_id)
                if found is None:
                    return None
                session, kernels = found
                if Status(session.status) not in REQUEUEABLE:
                    return None
                held_by = [k.agent_id for k in kernels if k.agent_id]
                attempt = session.start_attempts + 1
                session.start_attempts = attempt
                record = {"attempt": attempt, "at": now.isoformat(), "error": error[:1024]}
                record["agents"] = ",".join(sorted(set(failed_agent_ids)))
                history = list(session.status_data.get("start_attempts", []))
                session.status_data = {**session.status_data, "start_attempts": [*history, record]}
                # Each failed attempt is visible in the history next to the statuses.
                session.status_history = {
                    **session.status_history,
                    f"START_ATTEMPT_{attempt}_FAILED": now.isoformat(),
                }
                if retry.exhausted(attempt):
                    status = _cancel(session, kernels, error, now)
                    info = START_ATTEMPTS_EXHAUSTED
                else:
                    status = back_to_pending(session, kernels, retry.not_before(attempt, now), now)
                    info = START_REQUEUED
                rows = await recompute_occupancy(db, held_by)
                failing = set(failed_agent_ids)
                count_failed_starts([r for r in rows if r.id in failing], agents, now)
                change = SessionChange(
                    session_id=session_id,
                    status=status,
                    status_info=info,
                    agents=tuple(agent_from_row(r) for r in rows),
                )
                await stage_changes(db, [change])  # rule R-OUTBOX
                return change

        return await with_retry(work)

    async def release_due(self, now: datetime, limit: int) -> list[str]:
        async with self._sessions.begin() as db:
            rows = (
                (
                    await db.execute(
                        select(SessionRow)
                        .where(SessionRow.not_before <= now)
                        .order_by(SessionRow.not_before)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            for row in rows:
                row.not_before = None
            due = [r.id for r in rows if r.status == Status.PENDING.value]
            # The scheduler sees them again: announced with the release (rule R-OUTBOX).
            await stage(db, [enqueued_event(i) for i in due])
            return due


def back_to_pending(
    session: SessionRow, kernels: Sequence[KernelRow], not_before: datetime, now: datetime
) -> Status:
    """The one move back in the lifecycle: a start that failed (or a session whose agent was
    lost, when it asked for it) starts over. It bypasses the forward-only transition table on
    purpose, only from REQUEUEABLE statuses or for a lost agent (rule R-LOST-GRACE)."""
    for k in kernels:
        # A new id: a late event or destroy about the failed attempt cannot touch the next one.
        k.id = new_id()
        k.status = Status.PENDING.value
        k.status_info = START_REQUEUED
        k.status_changed_at = now
        k.agent_id = None
        k.agent_address = None
    session.status = Status.PENDING.value
    session.status_info = START_REQUEUED
    session.status_changed_at = now
    session.status_history = {**session.status_history, Status.PENDING.value: now.isoformat()}
    session.expires_at = None  # set again by the next bind
    session.not_before = not_before
    session.status_message = (
        f"start attempt {session.start_attempts} failed; queued again from {not_before.isoformat()}"
    )
    return Status.PENDING


def _cancel(
    session: SessionRow, kernels: Sequence[KernelRow], error: str, now: datetime
) -> Status | None:
    data = {"error": {"src": "agent", "repr": error[:1024]}}
    message = f"the session could not be started after {session.start_attempts} attempts: {error}"
    for k in kernels:
        set_kernel_status(k, Status.CANCELLED, reason=START_ATTEMPTS_EXHAUSTED, now=now, data=data)
    return set_session_status(
        session,
        Status.CANCELLED,
        reason=START_ATTEMPTS_EXHAUSTED,
        now=now,
        message=message,
        data=data,
    )
