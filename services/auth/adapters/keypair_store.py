"""Keypair lookups for verification: one query, keypair + owner + project ids."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.adapters.tables import KeypairRow, ProjectMemberRow, UserRow
from services.auth.domain.model import KeypairOwner


class SqlKeypairStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def find(self, access_key: str) -> KeypairOwner | None:
        projects = (
            select(func.array_agg(ProjectMemberRow.project_id))
            .where(ProjectMemberRow.user_id == UserRow.id)
            .scalar_subquery()  # NULL (not []) when the user is in no project
        )
        query = (
            select(KeypairRow, UserRow, projects)
            .join(UserRow, UserRow.id == KeypairRow.user_id)
            .where(KeypairRow.access_key == access_key)
        )
        async with self._sessions() as session:
            row = (await session.execute(query)).one_or_none()
        if row is None:
            return None
        keypair, user, project_ids = row
        return KeypairOwner(
            access_key=keypair.access_key,
            secret_key=keypair.secret_key,
            keypair_active=keypair.is_active,
            user_id=str(user.id),
            user_status=user.status,
            role=user.role,
            domain_name=user.domain_name,
            email=user.email,
            project_ids=tuple(sorted(str(p) for p in project_ids or ())),
        )
