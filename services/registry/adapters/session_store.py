"""Sessions in PostgreSQL: creation, lookup, lists and the pending queue (with its binds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.errors import Aborted
from libs.core.slots import ResourceSlots
from libs.db.reads import ReadPool
from libs.db.retry import with_retry
from services.registry.adapters.bind import bind_sessions
from services.registry.adapters.dependency_store import DependencyQueries
from services.registry.adapters.outbox import enqueued_event, stage
from services.registry.adapters.rows import count_sessions, lock_keypair, session_from_row
from services.registry.adapters.session_reads import fetch_session
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.domain.errors import (
    PendingSessionLimit,
    SessionNameInUse,
    SessionNotFound,
)
from services.registry.domain.model import AGENT_OCCUPYING_STATUSES, Session, Status
from services.registry.service.ports import (
    BindOutcome,
    NewKernel,
    NewSession,
    PendingNote,
    SessionFilter,
    SessionPlacement,
)


class SqlSessionStore(DependencyQueries):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], reads: ReadPool | None = None
    ) -> None:
        self._sessions = sessions
        self._reads = reads  # the hot path of `get` (adapters/session_reads.py)

    async def add(self, new: NewSession) -> tuple[Session, bool]:
        """Insert PENDING session + kernels in one transaction; a known token returns the first."""

        async def work() -> tuple[Session, bool]:
            async with self._sessions.begin() as db:
                if new.max_pending_sessions > 0:
                    await lock_keypair(db, new.access_key)
                if new.client_token:
                    existing = await self._find_by_token(db, new.access_key, new.client_token)
                    if existing is not None:
                        await _restage_if_pending(db, existing)
                        return existing, False
                if new.max_pending_sessions > 0:
                    await _check_pending_cap(db, new)
                total = ResourceSlots()
                for k in new.kernels:
                    total = total + k.requested_slots
                values = _session_values(new, total)
                stmt = insert(SessionRow).values(**values)
                if new.client_token:
                    # A concurrent duplicate loses the race here and reads the winner below.
                    stmt = stmt.on_conflict_do_nothing(
                        index_elements=["access_key", "client_token"],
                        index_where=SessionRow.client_token.is_not(None),
                    )
                inserted = (await db.execute(stmt.returning(SessionRow.id))).scalar_one_or_none()
                if inserted is None:
                    raced = await self._find_by_token(db, new.access_key, new.client_token)
                    if raced is None:  # the winner vanished between its commit and our read
                        raise Aborted("a concurrent request with this client_token; retry")
                    await _restage_if_pending(db, raced)
                    return raced, False
                for k in new.kernels:
                    db.add(_kernel_row(new, k))
                await stage(db, [enqueued_event(new.session_id)])
            return await self.get(new.session_id), True

        try:
            return await with_retry(work)
        except IntegrityError as exc:
            if "ix_sessions_live_name" in str(exc.orig):
                raise SessionNameInUse(
                    f"you already have a live session named {new.name!r}",
                    metadata={"name": new.name},
                ) from exc
            raise

    async def get(self, session_id: str) -> Session:
        if self._reads is not None:
            found = await fetch_session(self._reads, session_id)
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

    async def get_many(self, session_ids: Sequence[str]) -> dict[str, Session]:
        if not session_ids:
            return {}
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

    async def _find_by_token(self, db: AsyncSession, access_key: str, token: str) -> Session | None:
        row = (
            await db.execute(
                select(SessionRow).where(
                    and_(SessionRow.access_key == access_key, SessionRow.client_token == token)
                )
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        kernels = (
            await db.execute(select(KernelRow).where(KernelRow.session_id == row.id))
        ).scalars()
        return session_from_row(row, kernels)

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


async def _restage_if_pending(db: AsyncSession, session: Session) -> None:
    """A retried create re-announces a session still waiting: the first attempt's event may be
    what the client never saw confirmed (rule R-OUTBOX)."""
    if session.status is Status.PENDING:
        await stage(db, [enqueued_event(session.session_id)])


async def _check_pending_cap(db: AsyncSession, new: NewSession) -> None:
    waiting = await count_sessions(db, new.access_key, [Status.PENDING])
    if waiting >= new.max_pending_sessions:
        raise PendingSessionLimit(
            f"you already have {waiting} pending sessions; max_pending_sessions is "
            f"{new.max_pending_sessions}",
            metadata={
                "limit": "max_pending_sessions",
                "max_pending_sessions": str(new.max_pending_sessions),
            },
        )


def _session_values(new: NewSession, total: ResourceSlots) -> Mapping[str, object]:
    return {
        "id": new.session_id,
        "name": new.name,
        "session_type": new.session_type.value,
        "image": new.image,
        "image_architectures": list(new.image_architectures),
        "status": Status.PENDING.value,
        "status_info": "",
        "status_message": "",
        "status_data": {},
        "status_history": {Status.PENDING.value: new.created_at.isoformat()},
        "owner_user_id": new.owner_user_id,
        "access_key": new.access_key,
        "domain_name": new.domain_name,
        "project_id": new.project_id,
        "resource_group": new.resource_group,
        "requested_slots": total.to_strings(),
        "vfolder_mounts": [
            {
                "vfolder_id": m.vfolder_id,
                "name": m.name,
                "host_path": m.host_path,
                "read_only": m.read_only,
                "kernel_path": m.kernel_path,
            }
            for m in new.mounts
        ],
        "client_token": new.client_token or None,
        "startup_command": new.startup_command,
        "environ": dict(new.environ),
        "trace_context": dict(new.trace_context),
        "created_at": new.created_at,
        "status_changed_at": new.created_at,
        "max_lifetime_seconds": new.max_lifetime_seconds,
        "idle_timeout_seconds": new.idle_timeout_seconds,
        "owner_created_at": new.owner_created_at,
        "cluster_mode": new.cluster_mode.value,
        "priority": new.scheduling.priority,
        "preemptible": new.scheduling.preemptible,
        "requeue_on_preemption": new.scheduling.requeue_on_preemption,
        "starts_at": new.scheduling.starts_at,
        "dependencies": list(new.scheduling.dependencies),
        "expected_duration": new.scheduling.expected_duration,
        "requeue_on_agent_loss": new.requeue_on_agent_loss,
    }


def _kernel_row(new: NewSession, kernel: NewKernel) -> KernelRow:
    return KernelRow(
        id=kernel.kernel_id,
        session_id=new.session_id,
        cluster_role=kernel.cluster_role,
        cluster_idx=kernel.cluster_idx,
        local_rank=kernel.local_rank,
        cluster_hostname=f"{kernel.cluster_role}{kernel.cluster_idx}",
        cluster_address="",
        status=Status.PENDING.value,
        status_info="",
        status_data={},
        requested_slots=kernel.requested_slots.to_strings(),
        created_at=new.created_at,
        status_changed_at=new.created_at,
    )
