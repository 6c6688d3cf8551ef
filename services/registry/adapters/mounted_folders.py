"""Folders mounted by sessions that have not ended, from the sessions' vfolder_mounts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.tables import SessionRow
from services.registry.domain.model import DEAD_STATUSES

_DEAD = [s.value for s in DEAD_STATUSES]


class SqlMountedFolders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def mounted(self, vfolder_ids: Sequence[str]) -> set[str]:
        mount = func.jsonb_array_elements(SessionRow.vfolder_mounts).table_valued("value")
        folder = mount.c.value.op("->>")("vfolder_id")
        stmt = (
            select(folder.label("vfolder_id"))
            # A function in FROM may read the rows before it (PostgreSQL's implicit LATERAL).
            .select_from(SessionRow, mount)
            .where(SessionRow.status.not_in(_DEAD), folder.in_(list(vfolder_ids)))
            .distinct()
        )
        async with self._sessions() as db:
            return {str(v) for v in (await db.execute(stmt)).scalars()}
