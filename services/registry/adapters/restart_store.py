"""A session restart's state changes: RUNNING -> RESTARTING -> RUNNING (docs/sessions.md).

Each method is one transaction under the session's row lock (rule R-LOCK-ORDER), so a repeated
call is a no-op; the session events a change implies are staged with it (rule R-OUTBOX). Kernel
rows stay RUNNING throughout: their processes keep running, only their runners restart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.outbox import stage_changes
from services.registry.adapters.rows import (
    kernel_target,
    lock_session_or_none,
    session_from_row,
    set_session_status,
)
from services.registry.adapters.tables import SessionRow
from services.registry.domain.errors import SessionNotFound, SessionNotRunning
from services.registry.domain.model import DEAD_STATUSES, Session, Status
from services.registry.service.ports import KernelTarget, SessionChange


class SqlRestartStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def begin(self, session_id: str) -> tuple[Session, list[KernelTarget]]:
        """RUNNING -> RESTARTING; the kernels to restart. A session already RESTARTING comes
        back with no kernels (its restart is under way); any other status fails."""

        async def work() -> tuple[Session, list[KernelTarget]]:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_session_or_none(db, session_id)
                if found is None:
                    raise SessionNotFound(f"session {session_id} not found")
                session, kernels = found
                current = Status(session.status)
                if current is Status.RESTARTING:
                    return session_from_row(session, kernels), []
                if current is not Status.RUNNING:
                    raise SessionNotRunning(
                        f"session {session_id} is {current.value}; only a RUNNING session restarts",
                        metadata={"status": current.value},
                    )
                set_session_status(session, Status.RESTARTING, reason="user-requested", now=now)
                change = SessionChange(
                    session_id=session_id, status=Status.RESTARTING, status_info="user-requested"
                )
                await stage_changes(db, [change])
                live = [k for k in kernels if Status(k.status) not in DEAD_STATUSES]
                targets = [kernel_target(k) for k in live if k.agent_address]
                return session_from_row(session, kernels), targets

        return await with_retry(work)

    async def finish(self, session_id: str, *, reason: str = "restarted") -> bool:
        """RESTARTING -> RUNNING; False when the session left RESTARTING meanwhile."""

        async def work() -> bool:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_session_or_none(db, session_id)
                if found is None or Status(found[0].status) is not Status.RESTARTING:
                    return False
                set_session_status(found[0], Status.RUNNING, reason=reason, now=now)
                change = SessionChange(
                    session_id=session_id, status=Status.RUNNING, status_info=reason
                )
                await stage_changes(db, [change])
                return True

        return await with_retry(work)

    async def stale(self, older_than: datetime) -> list[str]:
        """Sessions RESTARTING since before `older_than` (their registry replica died)."""
        query = select(SessionRow.id).where(
            SessionRow.status == Status.RESTARTING.value,
            SessionRow.status_changed_at < older_than,
        )
        async with self._sessions() as db:
            return list((await db.execute(query)).scalars())
