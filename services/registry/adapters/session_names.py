"""Renaming a live session: one UPDATE under the unique index of live names."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.tables import SessionRow
from services.registry.domain.errors import SessionNameInUse
from services.registry.domain.model import DEAD_STATUSES


class SqlSessionNames:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def rename(self, session_id: str, name: str) -> bool:
        """Rename the session if it is live; False when it has ended (or does not exist)."""

        async def work() -> bool:
            async with self._sessions.begin() as db:
                stmt = (
                    update(SessionRow)
                    .where(
                        SessionRow.id == session_id,
                        SessionRow.status.not_in([s.value for s in DEAD_STATUSES]),
                    )
                    .values(name=name)
                    .returning(SessionRow.id)
                )
                return (await db.execute(stmt)).scalar_one_or_none() is not None

        try:
            return await with_retry(work)
        except IntegrityError as exc:
            if "ix_sessions_live_name" in str(exc.orig):
                raise SessionNameInUse(
                    f"you already have a live session named {name!r}",
                    metadata={"name": name},
                ) from exc
            raise
