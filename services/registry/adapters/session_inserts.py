"""A new session's transaction: PENDING session and kernels, its idempotency and pending cap.

Run inside the caller's transaction (`SqlSessionStore.add`): the keypair's row lock serialises
the pending cap, the client token makes a retried request find the first one's session, and the
`SessionEnqueued` event is staged in the same transaction (rule R-OUTBOX).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import Table, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from libs.core.errors import Aborted
from libs.core.slots import ResourceSlots
from services.registry.adapters.outbox import enqueued_event, stage
from services.registry.adapters.row_state import Locked, session_state
from services.registry.adapters.rows import lock_keypair, session_from_row
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.domain.errors import PendingSessionLimit
from services.registry.domain.model import Session, Status
from services.registry.service.ports import NewKernel, NewSession

_SESSIONS = cast(Table, SessionRow.__table__)
_KERNELS = cast(Table, KernelRow.__table__)
# Built once, the row's values bound at execution: SQLAlchemy computes each one's cache key
# once, where `.values(...)` made a new statement (and key) per create.
_INSERT = insert(_SESSIONS).returning(_SESSIONS.c.id)
# A duplicate (a retry, or a concurrent twin) inserts nothing and reads the first below.
_INSERT_ONCE = (
    insert(_SESSIONS)
    .on_conflict_do_nothing(
        index_elements=["access_key", "client_token"],
        index_where=SessionRow.client_token.is_not(None),
    )
    .returning(_SESSIONS.c.id)
)


async def insert_session(db: AsyncSession, new: NewSession) -> Session | None:
    """None once the session is inserted; the earlier session when its client token names
    one already."""
    if new.max_pending_sessions > 0:
        await lock_keypair(db, new.access_key)
        # A retry of a create that went through is answered before the cap refuses it.
        # Without a cap the insert's conflict on the token finds it (below), one round trip.
        if new.client_token:
            existing = await find_by_token(db, new.access_key, new.client_token)
            if existing is not None:
                await _restage_if_pending(db, existing)
                return existing
        await _check_pending_cap(db, new)
    total = ResourceSlots()
    for k in new.kernels:
        total = total + k.requested_slots
    # Core statements on the tables: the ORM's bulk-insert and unit-of-work bookkeeping cost
    # more per create than the statements themselves.
    values = _session_values(new, total)
    stmt = _INSERT_ONCE if new.client_token else _INSERT
    inserted = (await db.execute(stmt, dict(values))).scalar_one_or_none()
    if inserted is None:
        raced = await find_by_token(db, new.access_key, new.client_token)
        if raced is None:  # the winner vanished between its commit and our read
            raise Aborted("a concurrent request with this client_token; retry")
        await _restage_if_pending(db, raced)
        return raced
    await db.execute(insert(_KERNELS), [_kernel_values(new, k) for k in new.kernels])
    # Its user event from the values just written: the row is not read back.
    await stage(db, [enqueued_event(new.session_id)], (), Locked.of([session_state(values)], ()))
    return None


async def find_by_token(db: AsyncSession, access_key: str, token: str) -> Session | None:
    row = (
        await db.execute(
            select(SessionRow).where(
                and_(SessionRow.access_key == access_key, SessionRow.client_token == token)
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    kernels = (await db.execute(select(KernelRow).where(KernelRow.session_id == row.id))).scalars()
    return session_from_row(row, kernels)


async def _restage_if_pending(db: AsyncSession, session: Session) -> None:
    """A retried create re-announces a session still waiting: the first attempt's event may be
    what the client never saw confirmed (rule R-OUTBOX)."""
    if session.status is Status.PENDING:
        await stage(db, [enqueued_event(session.session_id)])


async def _check_pending_cap(db: AsyncSession, new: NewSession) -> None:
    # Counted up to the cap only: the keypair's whole queue would be read on every create.
    pending = (
        select(SessionRow.id)
        .where(SessionRow.access_key == new.access_key, SessionRow.status == Status.PENDING.value)
        .limit(new.max_pending_sessions)
        .subquery()
    )
    waiting = int((await db.execute(select(func.count()).select_from(pending))).scalar_one())
    if waiting >= new.max_pending_sessions:
        raise PendingSessionLimit(
            f"you already have {waiting} or more pending sessions; max_pending_sessions is "
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
        "terminated_at": None,
        "start_attempts": 0,
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


def _kernel_values(new: NewSession, kernel: NewKernel) -> Mapping[str, object]:
    return {
        "id": kernel.kernel_id,
        "session_id": new.session_id,
        "cluster_role": kernel.cluster_role,
        "cluster_idx": kernel.cluster_idx,
        "local_rank": kernel.local_rank,
        "cluster_hostname": f"{kernel.cluster_role}{kernel.cluster_idx}",
        "cluster_address": "",
        "status": Status.PENDING.value,
        "status_info": "",
        "status_data": {},
        "requested_slots": kernel.requested_slots.to_strings(),
        "created_at": new.created_at,
        "status_changed_at": new.created_at,
    }
