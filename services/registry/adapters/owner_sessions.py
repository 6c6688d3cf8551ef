"""Finding the live sessions of owners (users, keypairs, projects, domains)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.adapters.tables import SessionRow
from services.registry.domain.model import DEAD_STATUSES, Status


class SqlOwnerSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def live_of(
        self,
        *,
        user_ids: Sequence[str],
        access_keys: Sequence[str],
        project_ids: Sequence[str],
        domain_names: Sequence[str],
    ) -> list[str]:
        matches = [
            column.in_(list(values))
            for column, values in (
                (SessionRow.owner_user_id, user_ids),
                (SessionRow.access_key, access_keys),
                (SessionRow.project_id, project_ids),
                (SessionRow.domain_name, domain_names),
            )
            if values
        ]
        if not matches:
            return []
        # Sessions already ending (TERMINATING) are left alone, as the contract says.
        ending = [s.value for s in (*DEAD_STATUSES, Status.TERMINATING)]
        query = (
            select(SessionRow.id)
            .where(or_(*matches), SessionRow.status.not_in(ending))
            .order_by(SessionRow.created_at)
        )
        async with self._sessions() as db:
            return [str(i) for i in (await db.scalars(query)).all()]
