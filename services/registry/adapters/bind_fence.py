"""The scheduler fence: binds carrying an older leader-lease epoch than one already seen are
refused, so a deposed leader binds nothing (rule R-FENCED-BIND)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.adapters.tables import SchedulerFenceRow

# The fence every scheduler replica's binds pass through (one row).
FENCE_NAME = "scheduler"
STALE_LEADER = "stale-leader"


async def pass_fence(db: AsyncSession, epoch: int) -> bool:
    """Record `epoch` as the newest unless a newer one was recorded: one row lock, one trip."""
    table = cast(Table, SchedulerFenceRow.__table__)
    stmt = (
        insert(table)
        .values(name=FENCE_NAME, epoch=epoch)
        .on_conflict_do_update(
            index_elements=[table.c.name],
            set_={"epoch": epoch},
            where=table.c.epoch <= epoch,
        )
        .returning(table.c.epoch)
    )
    return (await db.execute(stmt)).first() is not None
