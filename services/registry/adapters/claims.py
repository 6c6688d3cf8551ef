"""Claiming SCHEDULED sessions for the starter, many per transaction.

One statement picks the sessions (`FOR UPDATE SKIP LOCKED`: replicas claiming at once take
disjoint sets, so no session is started twice), one locks all their kernels (sessions first,
then kernels in id order, rule R-LOCK-ORDER), both read whole as plain rows (`row_state.py`:
the starter needs the whole session), and one statement writes the PREPARING rows of both
tables and stages every change in the outbox (rule R-OUTBOX).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Integer, Table, bindparam
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.outbox import stage_changes
from services.registry.adapters.row_state import (
    Locked,
    as_row,
    lock_kernels,
    lock_sessions,
    select_sessions,
)
from services.registry.adapters.rows import (
    kernel_target,
    session_from_row,
    set_kernel_status,
    set_session_status,
)
from services.registry.adapters.tables import SessionRow
from services.registry.domain.model import Mount, Status
from services.registry.service.ports import PreparingSession, SessionChange

_SESSIONS = cast(Table, SessionRow.__table__)
# Built once (its cache key computed once), the limit bound at each claim.
_PICK = (
    select_sessions(_SESSIONS.c.status == Status.SCHEDULED.value, whole=True)
    .order_by(_SESSIONS.c.created_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)


async def claim_scheduled(
    factory: async_sessionmaker[AsyncSession], limit: int
) -> list[PreparingSession]:
    """Move up to `limit` SCHEDULED sessions (oldest first) to PREPARING."""
    now = datetime.now(UTC)
    async with factory.begin() as db:
        sessions = await lock_sessions(db, _PICK, {"limit": limit}, whole=True)
        if not sessions:
            return []
        kernels = await lock_kernels(db, [s.id for s in sessions], whole=True)
        changes: list[SessionChange] = []
        for session in sessions:
            for k in kernels[session.id]:
                set_kernel_status(k, Status.PREPARING, reason="preparing", now=now)
            status = set_session_status(session, Status.PREPARING, reason="preparing", now=now)
            changes.append(
                SessionChange(session_id=session.id, status=status, status_info="preparing")
            )
        claimed = [
            PreparingSession(
                session=session_from_row(as_row(session), [as_row(k) for k in kernels[session.id]]),
                targets=tuple(kernel_target(k) for k in kernels[session.id]),
                mounts=tuple(Mount(**m) for m in session.whole["vfolder_mounts"]),
                change=change,
            )
            for session, change in zip(sessions, changes, strict=True)
        ]
        await stage_changes(
            db, changes, Locked.of(sessions, [k for ks in kernels.values() for k in ks])
        )
    return claimed
