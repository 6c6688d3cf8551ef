"""Session and kernel state changes after the queue: prepare, kernel events, cancel, destroy.

Each method is one transaction that locks the session and its kernels (in that order, as plain
rows: `row_state.py`), applies the transition tables, re-derives agent occupancy and writes the
moved rows with the change's outbox rows, so every change is atomic and a repeated
call is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.claims import claim_scheduled
from services.registry.adapters.kernel_moves import move_kernel, placed_on, with_agents
from services.registry.adapters.kernel_report_batch import apply_reports
from services.registry.adapters.outbox import change_events, consume, stage, stage_changes
from services.registry.adapters.row_state import Locked, lock_of_kernels, lock_one, write_back
from services.registry.adapters.rows import (
    agent_from_row,
    kernel_target,
    recompute_occupancy,
    session_from_row,
    set_kernel_status,
    set_session_status,
)
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.domain.errors import SessionNotDestroyable, SessionNotFound
from services.registry.domain.idle import Judged
from services.registry.domain.model import DEAD_STATUSES, Session, SessionType, Status
from services.registry.service.ports import (
    KernelTarget,
    PreparingSession,
    SessionChange,
)
from services.registry.service.session_ports import KernelReport

log = logging.getLogger(__name__)


class SqlLifecycleStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim_scheduled(self, limit: int) -> list[PreparingSession]:
        """Move up to `limit` SCHEDULED sessions to PREPARING; other replicas skip them."""
        return await claim_scheduled(self._sessions, limit)

    async def apply_kernel_reports(
        self, reports: Sequence[KernelReport]
    ) -> list[SessionChange | None]:
        return await apply_reports(self._sessions, reports)

    async def apply_kernel_status(
        self,
        kernel_id: str,
        new: Status,
        *,
        agent_id: str,
        reason: str,
        event_id: str = "",
        exit_code: int | None = None,
        message: str = "",
    ) -> SessionChange | None:
        """Apply an agent's report on one of its kernels (rule R-EVENT-SOURCE).

        None when the kernel is unknown, is not placed on `agent_id`, the event was applied
        before (`event_id`, rule R-IDEMPOTENT-CONSUMER) or the move is a no-op.
        """

        async def work() -> SessionChange | None:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                sessions, kernels_of = await lock_of_kernels(db, [kernel_id])
                if not sessions:
                    return None
                (session,) = sessions.values()
                kernels = kernels_of[session.id]
                kernel = next(k for k in kernels if k.id == kernel_id)
                if not placed_on(kernel, agent_id, new):
                    return None
                if event_id and not await consume(db, [event_id], now):
                    return None
                move = move_kernel(
                    session, kernels, kernel, new, reason=reason, exit_code=exit_code,
                    message=message, now=now, has_event_id=bool(event_id),
                )  # fmt: skip
                shown = [move.shown] if move.shown is not None else []
                rows = Locked.of([session], kernels)
                if move.change is None:
                    await stage(db, [], shown, rows)
                    return None
                freed = [move.freed_agent] if move.freed_agent else []
                if freed:
                    await write_back(db, rows)  # the occupancy is summed from kernel statuses
                change = with_agents(move.change, await recompute_occupancy(db, freed))
                await stage(db, change_events(change), shown, rows)
                return change

        return await with_retry(work)

    async def cancel(self, session_id: str, *, reason: str, error: str) -> SessionChange | None:
        """Cancel a session that failed to start: kernels and session CANCELLED, slots freed."""

        async def work() -> SessionChange | None:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_one(db, session_id)
                if found is None:
                    return None
                session, kernels = found
                data = {"error": {"src": "other", "repr": error}}
                for k in kernels:
                    set_kernel_status(k, Status.CANCELLED, reason=reason, now=now, data=data)
                status = set_session_status(
                    session, Status.CANCELLED, reason=reason, now=now, message=error, data=data
                )
                rows = Locked.of([session], kernels)
                await write_back(db, rows)  # the occupancy is summed from kernel statuses
                agents = await recompute_occupancy(db, [k.agent_id for k in kernels if k.agent_id])
                change = SessionChange(
                    session_id=session_id,
                    status=status,
                    status_info=reason,
                    agents=tuple(agent_from_row(a) for a in agents),
                )
                await stage_changes(db, [change], rows)
                return change

        return await with_retry(work)

    async def cancel_pending(
        self, session_id: str, *, reason: str, message: str
    ) -> SessionChange | None:
        """PENDING -> CANCELLED (kernels too); None when the session already left the queue."""

        async def work() -> SessionChange | None:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_one(db, session_id)
                if found is None or Status(found[0].status) is not Status.PENDING:
                    return None
                session, kernels = found
                for k in kernels:
                    set_kernel_status(k, Status.CANCELLED, reason=reason, now=now)
                status = set_session_status(
                    session, Status.CANCELLED, reason=reason, now=now, message=message
                )
                change = SessionChange(session_id=session_id, status=status, status_info=reason)
                await stage_changes(db, [change], Locked.of([session], kernels))  # rule R-OUTBOX
                return change

        return await with_retry(work)

    async def begin_destroy(
        self, session_id: str, *, forced: bool, reason: str, only_running: bool = False
    ) -> tuple[list[KernelTarget], SessionChange | None]:
        """Record the destroy request; return the kernels whose agents must be told. With
        `only_running`, a session that is not RUNNING is left alone (an idle check's verdict
        ends a session once, whatever other checks decided meanwhile)."""

        async def work() -> tuple[list[KernelTarget], SessionChange | None]:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_one(db, session_id)
                if found is None:
                    raise SessionNotFound(f"session {session_id} not found")
                session, kernels = found
                current = Status(session.status)
                if current in DEAD_STATUSES or (only_running and current is not Status.RUNNING):
                    return [], None
                if current is Status.PENDING:
                    for k in kernels:
                        set_kernel_status(k, Status.CANCELLED, reason=reason, now=now)
                    status = set_session_status(session, Status.CANCELLED, reason=reason, now=now)
                    change = SessionChange(session_id=session_id, status=status, status_info=reason)
                    await stage_changes(db, [change], Locked.of([session], kernels))
                    return [], change
                if current in (Status.SCHEDULED, Status.PULLING, Status.PREPARING) and not forced:
                    raise SessionNotDestroyable(
                        f"session {session_id} is {current.value}; pass forced=true to destroy it",
                        metadata={"status": current.value},
                    )
                targets = []
                for k in kernels:
                    if Status(k.status) in DEAD_STATUSES:
                        continue
                    set_kernel_status(k, Status.TERMINATING, reason=reason, now=now)
                    if k.agent_id and k.agent_address:
                        targets.append(kernel_target(k))
                status = set_session_status(session, Status.TERMINATING, reason=reason, now=now)
                change = SessionChange(session_id=session_id, status=status, status_info=reason)
                await stage_changes(db, [change], Locked.of([session], kernels))
                return targets, change

        return await with_retry(work)

    async def stale_preparing(self, older_than: datetime) -> list[PreparingSession]:
        """Sessions PREPARING since before `older_than` (e.g. their starter replica died)."""
        async with self._sessions() as db:
            rows = (
                await db.execute(
                    select(SessionRow).where(
                        SessionRow.status == Status.PREPARING.value,
                        SessionRow.status_changed_at < older_than,
                    )
                )
            ).scalars()
            found = []
            for session in rows:
                kernels = (
                    await db.execute(select(KernelRow).where(KernelRow.session_id == session.id))
                ).scalars()
                kernel_rows = list(kernels)
                found.append(
                    PreparingSession(
                        session=session_from_row(session, kernel_rows),
                        targets=tuple(kernel_target(k) for k in kernel_rows if k.agent_address),
                        mounts=(),
                        change=SessionChange(session_id=session.id, status=None),
                    )
                )
            return found

    async def running(self, judged: Judged) -> list[Session]:
        """The RUNNING sessions an idle checker may end, with their kernels (two queries)."""
        named: list[ColumnElement[bool]] = []
        if judged.expiring:
            named.append(SessionRow.expires_at.is_not(None))
        if judged.idle_timeout:  # domain.idle.watches_activity, as SQL
            named.append(
                and_(
                    SessionRow.idle_timeout_seconds > 0,
                    SessionRow.session_type != SessionType.BATCH.value,
                )
            )
        if judged.groups:
            named.append(SessionRow.resource_group.in_(sorted(judged.groups)))
        if not named:
            return []
        query = select(SessionRow).where(SessionRow.status == Status.RUNNING.value, or_(*named))
        async with self._sessions() as db:
            rows = list((await db.execute(query)).scalars())
            ids = [row.id for row in rows]
            kernels = await db.execute(select(KernelRow).where(KernelRow.session_id.in_(ids)))
            by_session: dict[str, list[KernelRow]] = {}
            for k in kernels.scalars():
                by_session.setdefault(k.session_id, []).append(k)
            return [session_from_row(row, by_session.get(row.id, ())) for row in rows]

    async def stale_terminating(self, older_than: datetime) -> list[KernelTarget]:
        """Kernels stuck in TERMINATING (an agent missed the destroy): to be told again."""
        async with self._sessions() as db:
            rows = (
                await db.execute(
                    select(KernelRow).where(
                        KernelRow.status == Status.TERMINATING.value,
                        KernelRow.status_changed_at < older_than,
                        KernelRow.agent_address.is_not(None),
                    )
                )
            ).scalars()
            return [kernel_target(k) for k in rows]
