"""Sessions in PostgreSQL: creation (its transaction in session_inserts.py), lookup, lists and
the pending queue (with its binds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.shared_round_trips import SharedRoundTrips
from libs.db.reads import ReadPool
from libs.db.retry import with_retry
from services.registry.adapters.bind import bind_sessions
from services.registry.adapters.dependency_store import DependencyQueries
from services.registry.adapters.rows import session_from_row
from services.registry.adapters.session_inserts import insert_session
from services.registry.adapters.session_reads import fetch_session, fetch_sessions
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.domain.errors import (
    SessionNameInUse,
    SessionNotFound,
)
from services.registry.domain.model import AGENT_OCCUPYING_STATUSES, Session, Status
from services.registry.service.ports import (
    BindOutcome,
    NewSession,
    PendingNote,
    SessionFilter,
    SessionPlacement,
)

GET_BATCH = 64  # session reads merged into one query


class SqlSessionStore(DependencyQueries):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], reads: ReadPool | None = None
    ) -> None:
        self._sessions = sessions
        self._reads = reads  # the hot path of `get` and `get_many` (adapters/session_reads.py)
        # Concurrent `get`s share round trips on that path (libs/core/shared_round_trips.py).
        self._gets: SharedRoundTrips[str, Session | None] = SharedRoundTrips(
            self._get_batch, max_batch=GET_BATCH, name="registry-session-gets"
        )

    async def add(self, new: NewSession) -> tuple[Session, bool]:
        """Insert PENDING session + kernels in one transaction; a known token returns the first."""

        async def work() -> Session | None:
            async with self._sessions.begin() as db:
                return await insert_session(db, new)

        try:
            found = await with_retry(work)
        except IntegrityError as exc:
            if "ix_sessions_live_name" in str(exc.orig):
                raise SessionNameInUse(
                    f"you already have a live session named {new.name!r}",
                    metadata={"name": new.name},
                ) from exc
            raise
        # A new session is read once committed (with what the database filled in).
        return (found, False) if found is not None else (await self.get(new.session_id), True)

    async def get(self, session_id: str) -> Session:
        if self._reads is not None:
            found = await self._gets.submit(session_id)
            if found is None:
                raise SessionNotFound(f"session {session_id} not found")
            return found
        async with self._sessions() as db:
            row = await db.get(SessionRow, session_id)
            if row is None:
                raise SessionNotFound(f"session {session_id} not found")
            kernels = (
                await db.execute(select(KernelRow).where(KernelRow.session_id == session_id))
            ).scalars()
            return session_from_row(row, kernels)

    async def _get_batch(self, session_ids: list[str]) -> list[Session | None]:
        assert self._reads is not None
        if len(session_ids) == 1:
            return [await fetch_session(self._reads, session_ids[0])]
        found = await fetch_sessions(self._reads, session_ids)
        return [found.get(session_id) for session_id in session_ids]

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, Session]:
        if not session_ids:
            return {}
        if self._reads is not None:
            return await fetch_sessions(self._reads, session_ids)
        async with self._sessions() as db:
            rows = (
                await db.execute(select(SessionRow).where(SessionRow.id.in_(set(session_ids))))
            ).scalars()
            return {s.session_id: s for s in await self._with_kernels(db, list(rows))}

    async def list_sessions(
        self,
        *,
        scope: SessionFilter,
        statuses: Sequence[Status],
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[Session]:
        """Newest first, keyset-paginated on (created_at, id)."""
        query = select(SessionRow).order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
        if scope.owner_user_id is not None:
            query = query.where(SessionRow.owner_user_id == scope.owner_user_id)
        if scope.domain_name is not None:
            query = query.where(SessionRow.domain_name == scope.domain_name)
        if statuses:
            query = query.where(SessionRow.status.in_([s.value for s in statuses]))
        if before is not None:
            query = query.where(tuple_(SessionRow.created_at, SessionRow.id) < before)
        async with self._sessions() as db:
            rows = (await db.execute(query.limit(limit))).scalars().all()
            return await self._with_kernels(db, rows)

    async def list_pending(self) -> list[Session]:
        query = (
            select(SessionRow)
            .where(SessionRow.status == Status.PENDING.value)
            # A re-queued session waits out its backoff first (rule R-REQUEUE).
            .where(SessionRow.not_before.is_(None))
            .order_by(SessionRow.created_at, SessionRow.id)
        )
        async with self._sessions() as db:
            rows = (await db.execute(query)).scalars().all()
            return await self._with_kernels(db, rows)

    async def list_active(self) -> list[Session]:
        query = (
            select(SessionRow)
            .where(SessionRow.status.in_([s.value for s in AGENT_OCCUPYING_STATUSES]))
            .order_by(SessionRow.created_at, SessionRow.id)
        )
        async with self._sessions() as db:
            rows = (await db.execute(query)).scalars().all()
            return await self._with_kernels(db, rows)

    async def bind(
        self, session_id: str, placements: Mapping[str, str], *, max_concurrent_sessions: int = 0
    ) -> BindOutcome:
        placement = SessionPlacement(
            session_id=session_id,
            kernels=placements,
            max_concurrent_sessions=max_concurrent_sessions,
        )
        return (await bind_sessions(self._sessions, [placement]))[0]

    async def bind_many(
        self,
        placements: Sequence[SessionPlacement],
        notes: Sequence[PendingNote] = (),
        *,
        lease_epoch: int = 0,
    ) -> list[BindOutcome]:
        return await bind_sessions(self._sessions, placements, notes, lease_epoch=lease_epoch)

    async def note_unschedulable(self, session_id: str, reason: str, message: str) -> bool:
        """Record why a session waits; only while it is still PENDING."""
        now = datetime.now(UTC)
        async with self._sessions.begin() as db:
            result = await db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.status == Status.PENDING.value)
                .values(
                    status_info=reason,
                    status_message=message,
                    status_data=SessionRow.status_data.op("||")(
                        {"scheduler": {"last_try": now.isoformat(), "msg": message}}
                    ),
                )
                .returning(SessionRow.id)
            )
            return result.scalar_one_or_none() is not None

    async def _with_kernels(self, db: AsyncSession, rows: Sequence[SessionRow]) -> list[Session]:
        ids = [r.id for r in rows]
        by_session: dict[str, list[KernelRow]] = {i: [] for i in ids}
        if ids:
            kernels = (
                await db.execute(select(KernelRow).where(KernelRow.session_id.in_(ids)))
            ).scalars()
            for k in kernels:
                by_session[k.session_id].append(k)
        return [session_from_row(r, by_session[r.id]) for r in rows]
