"""Session and kernel state changes after the queue: prepare, kernel events, cancel, destroy.

Each method is one transaction that locks the session and its kernels (in that order), applies
the transition tables and re-derives agent occupancy, so every change is atomic and a repeated
call is a no-op.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.outbox import change_events, mark_consumed, stage, stage_changes
from services.registry.adapters.rows import (
    agent_from_row,
    kernel_target,
    lock_kernel_session,
    lock_session_or_none,
    recompute_occupancy,
    refresh_session_status,
    session_from_row,
    set_kernel_status,
    set_session_status,
)
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.adapters.user_events import kernel_user_event
from services.registry.domain.errors import SessionNotDestroyable, SessionNotFound
from services.registry.domain.model import DEAD_STATUSES, Mount, Session, Status
from services.registry.domain.transitions import reported_kernel_status
from services.registry.service.ports import (
    KernelTarget,
    PreparingSession,
    SessionChange,
)

log = logging.getLogger(__name__)


class SqlLifecycleStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim_scheduled(self, limit: int) -> list[PreparingSession]:
        """Move up to `limit` SCHEDULED sessions to PREPARING; other replicas skip them."""
        now = datetime.now(UTC)
        claimed: list[PreparingSession] = []
        async with self._sessions.begin() as db:
            rows = await db.scalars(
                select(SessionRow)
                .where(SessionRow.status == Status.SCHEDULED.value)
                .order_by(SessionRow.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            for session in rows.all():
                found = await db.scalars(
                    select(KernelRow)
                    .where(KernelRow.session_id == session.id)
                    .order_by(KernelRow.id)
                    .with_for_update()
                )
                kernels = found.all()
                for k in kernels:
                    set_kernel_status(k, Status.PREPARING, reason="preparing", now=now)
                status = set_session_status(session, Status.PREPARING, reason="preparing", now=now)
                change = SessionChange(
                    session_id=session.id, status=status, status_info="preparing"
                )
                await stage_changes(db, [change])
                claimed.append(
                    PreparingSession(
                        session=session_from_row(session, kernels),
                        targets=tuple(kernel_target(k) for k in kernels),
                        mounts=tuple(Mount(**m) for m in session.vfolder_mounts),
                        change=change,
                    )
                )
        return claimed

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
                locked = await lock_kernel_session(db, kernel_id)
                if locked is None:
                    return None
                session, kernels = locked
                kernel = next(k for k in kernels if k.id == kernel_id)
                if not agent_id or kernel.agent_id != agent_id:
                    log.warning(
                        "refused a %s report on kernel %s from agent %r: it is placed on %r",
                        new.value,
                        kernel_id,
                        agent_id,
                        kernel.agent_id,
                    )
                    return None
                if event_id and not await mark_consumed(db, event_id, now):
                    return None
                target = reported_kernel_status(Status(kernel.status), new)
                data = {"error": {"src": "agent", "repr": message}} if message else None
                moved = set_kernel_status(
                    kernel, target, reason=reason, now=now, data=data, exit_code=exit_code
                )
                # Reported by the kernel's agent for the first time: its owner sees it even when
                # the kernel's status does not move (creating while PREPARING).
                shown = kernel_user_event(
                    session, kernel, target, reason=reason, exit_code=exit_code, message=message,
                    now=now,
                )  # fmt: skip
                if not moved:
                    if shown is not None and event_id and Status(kernel.status) is target:
                        await stage(db, [], [shown])
                    return None
                status = refresh_session_status(session, kernels, reason=reason, now=now)
                agents = []
                if target in DEAD_STATUSES:
                    agents = await recompute_occupancy(db, [agent_id])
                change = SessionChange(
                    session_id=session.id,
                    status=status,
                    status_info=reason,
                    agents=tuple(agent_from_row(a) for a in agents),
                )
                await stage(db, change_events(change), [shown] if shown else [])
                return change

        return await with_retry(work)

    async def cancel(self, session_id: str, *, reason: str, error: str) -> SessionChange | None:
        """Cancel a session that failed to start: kernels and session CANCELLED, slots freed."""

        async def work() -> SessionChange | None:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_session_or_none(db, session_id)
                if found is None:
                    return None
                session, kernels = found
                data = {"error": {"src": "other", "repr": error}}
                for k in kernels:
                    set_kernel_status(k, Status.CANCELLED, reason=reason, now=now, data=data)
                status = set_session_status(
                    session, Status.CANCELLED, reason=reason, now=now, message=error, data=data
                )
                agents = await recompute_occupancy(db, [k.agent_id for k in kernels if k.agent_id])
                change = SessionChange(
                    session_id=session_id,
                    status=status,
                    status_info=reason,
                    agents=tuple(agent_from_row(a) for a in agents),
                )
                await stage_changes(db, [change])
                return change

        return await with_retry(work)

    async def cancel_pending(
        self, session_id: str, *, reason: str, message: str
    ) -> SessionChange | None:
        """PENDING -> CANCELLED (kernels too); None when the session already left the queue."""

        async def work() -> SessionChange | None:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_session_or_none(db, session_id)
                if found is None or Status(found[0].status) is not Status.PENDING:
                    return None
                session, kernels = found
                for k in kernels:
                    set_kernel_status(k, Status.CANCELLED, reason=reason, now=now)
                status = set_session_status(
                    session, Status.CANCELLED, reason=reason, now=now, message=message
                )
                change = SessionChange(session_id=session_id, status=status, status_info=reason)
                await stage_changes(db, [change])  # rule R-OUTBOX
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
                found = await lock_session_or_none(db, session_id)
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
                    await stage_changes(db, [change])
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
                await stage_changes(db, [change])
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

    async def running(self) -> list[Session]:
        """RUNNING sessions with their kernels (two queries): what the idle checkers judge."""
        query = select(SessionRow).where(SessionRow.status == Status.RUNNING.value)
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
