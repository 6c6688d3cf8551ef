"""Keypair lookups for verification: one query, keypair + owner + domain + active projects.

A revoked keypair reads as inactive and a user of an inactive or deleted domain as inactive,
so the verifier's two state checks cover every kind of deactivation.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.adapters.secret_cipher import SecretCipher
from services.auth.adapters.tables import (
    DomainRow,
    KeypairRow,
    ProjectMemberRow,
    ProjectRow,
    UserRow,
)
from services.auth.domain.model import KeypairOwner, UserStatus


class SqlKeypairStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: SecretCipher) -> None:
        self._sessions = sessions
        self._cipher = cipher

    async def find(self, access_key: str) -> KeypairOwner | None:
        projects = (
            select(func.array_agg(ProjectMemberRow.project_id))
            .join(ProjectRow, ProjectRow.id == ProjectMemberRow.project_id)
            .where(
                ProjectMemberRow.user_id == UserRow.id,
                ProjectRow.is_active.is_(True),
                ProjectRow.deleted_at.is_(None),
            )
            .scalar_subquery()  # NULL (not []) when the user is in no project
        )
        domain_live = DomainRow.is_active.is_(True) & DomainRow.deleted_at.is_(None)
        query = (
            select(KeypairRow, UserRow, projects, domain_live)
            .join(UserRow, UserRow.id == KeypairRow.user_id)
            .join(DomainRow, DomainRow.name == UserRow.domain_name)
            .where(KeypairRow.access_key == access_key)
        )
        async with self._sessions() as session:
            row = (await session.execute(query)).one_or_none()
        if row is None:
            return None
        keypair, user, project_ids, domain_active = row
        return KeypairOwner(
            access_key=keypair.access_key,
            secret_key=self._cipher.decrypt(keypair.access_key, keypair.secret_key),
            keypair_active=keypair.is_active and keypair.revoked_at is None,
            user_id=str(user.id),
            user_status=user.status if domain_active else UserStatus.INACTIVE,
            role=user.role,
            domain_name=user.domain_name,
            email=user.email,
            project_ids=tuple(sorted(str(p) for p in project_ids or ())),
        )
