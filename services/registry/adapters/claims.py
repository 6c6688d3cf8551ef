"""Claiming SCHEDULED sessions for the starter, many per transaction.

One statement picks the sessions (`FOR UPDATE SKIP LOCKED`: replicas claiming at once take
disjoint sets, so no session is started twice), one locks all their kernels (sessions first,
then kernels in id order, rule R-LOCK-ORDER), the unit of work writes the PREPARING rows in one
batched UPDATE per table, and one outbox insert stages every change (rule R-OUTBOX).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.outbox import stage_changes
from services.registry.adapters.rows import (
    kernel_target,
    session_from_row,
    set_kernel_status,
    set_session_status,
)
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.adapters.unnest import any_of
from services.registry.domain.model import Mount, Status
from services.registry.service.ports import PreparingSession, SessionChange


async def claim_scheduled(
    factory: async_sessionmaker[AsyncSession], limit: int
) -> list[PreparingSession]:
    """Move up to `limit` SCHEDULED sessions (oldest first) to PREPARING."""
    now = datetime.now(UTC)
    async with factory.begin() as db:
        sessions = (
            await db.scalars(
                select(SessionRow)
                .where(SessionRow.status == Status.SCHEDULED.value)
                .order_by(SessionRow.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not sessions:
            return []
        kernels = await lock_kernels_of(db, [s.id for s in sessions])
        claimed: list[PreparingSession] = []
        for session in sessions:
            own = kernels.get(session.id, [])
            for k in own:
                set_kernel_status(k, Status.PREPARING, reason="preparing", now=now)
            status = set_session_status(session, Status.PREPARING, reason="preparing", now=now)
            change = SessionChange(session_id=session.id, status=status, status_info="preparing")
            claimed.append(
                PreparingSession(
                    session=session_from_row(session, own),
                    targets=tuple(kernel_target(k) for k in own),
                    mounts=tuple(Mount(**m) for m in session.vfolder_mounts),
                    change=change,
                )
            )
        await stage_changes(db, [p.change for p in claimed])
    return claimed


async def lock_kernels_of(db: AsyncSession, session_ids: list[str]) -> dict[str, list[KernelRow]]:
    """Lock the kernels of sessions the caller has locked, in id order; by session."""
    rows = await db.scalars(
        select(KernelRow)
        .where(any_of(KernelRow.session_id, session_ids))
        .order_by(KernelRow.id)
        .with_for_update()
    )
    by_session: dict[str, list[KernelRow]] = defaultdict(list)
    for k in rows.all():
        by_session[k.session_id].append(k)
    return by_session
