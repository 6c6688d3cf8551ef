"""Renaming a live session under the unique index of live names, announced to its watchers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.outbox import stage
from services.registry.adapters.rows import lock_session_or_none
from services.registry.adapters.user_events import renamed_event
from services.registry.domain.errors import SessionNameInUse
from services.registry.domain.model import DEAD_STATUSES, Status


class SqlSessionNames:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def rename(self, session_id: str, name: str) -> bool:
        """Rename the session if it is live; False when it has ended (or does not exist)."""

        async def work() -> bool:
            now = datetime.now(UTC)
            async with self._sessions.begin() as db:
                found = await lock_session_or_none(db, session_id)
                if found is None or Status(found[0].status) in DEAD_STATUSES:
                    return False
                session = found[0]
                session.name = name
                await db.flush()  # the unique index of live names answers here
                await stage(db, [], [renamed_event(session, now)])  # rule R-OUTBOX
                return True

        try:
            return await with_retry(work)
        except IntegrityError as exc:
            if "ix_sessions_live_name" in str(exc.orig):
                raise SessionNameInUse(
                    f"you already have a live session named {name!r}",
                    metadata={"name": name},
                ) from exc
            raise
