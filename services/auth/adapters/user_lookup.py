"""Users by e-mail, with their projects: what other services need to share with them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.adapters.tables import ProjectMemberRow, UserRow
from services.auth.domain.model import UserStatus, UserSummary


class SqlUserLookup:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def by_emails(self, emails: Sequence[str]) -> list[UserSummary]:
        if not emails:
            return []
        projects = (
            select(func.coalesce(func.array_agg(ProjectMemberRow.project_id), []))
            .where(ProjectMemberRow.user_id == UserRow.id)
            .scalar_subquery()
        )
        query = select(
            UserRow.id, UserRow.email, UserRow.domain_name, UserRow.status, projects
        ).where(func.lower(UserRow.email).in_([e.lower() for e in emails]))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            UserSummary(
                user_id=str(row[0]),
                email=row[1],
                domain_name=row[2],
                active=row[3] is UserStatus.ACTIVE,
                project_ids=tuple(sorted(str(p) for p in row[4] or ())),
            )
            for row in rows
        ]
