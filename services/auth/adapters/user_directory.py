"""Users for password login: one query, user + main keypair + project ids."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.adapters.tables import (
    DomainRow,
    KeypairRow,
    ProjectMemberRow,
    ProjectRow,
    UserRow,
)
from services.auth.domain.login import LoginAccount
from services.auth.domain.model import UserStatus


class SqlUserDirectory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def find_by_email(self, email: str) -> LoginAccount | None:
        return await self._one(func.lower(UserRow.email) == email.lower())

    async def get(self, user_id: str) -> LoginAccount | None:
        try:
            uid = uuid.UUID(user_id)
        except ValueError:
            return None
        return await self._one(UserRow.id == uid)

    async def set_password(self, user_id: str, password_hash: str) -> None:
        query = (
            update(UserRow)
            .where(UserRow.id == uuid.UUID(user_id))
            .values(password_hash=password_hash, need_password_change=False, updated_at=func.now())
        )
        async with self._sessions.begin() as session:
            await session.execute(query)

    async def _one(self, condition: ColumnElement[bool]) -> LoginAccount | None:
        # The same liveness rules as keypair verification (keypair_store): only active projects
        # count, and a user of an inactive or deleted domain is inactive.
        projects = (
            select(func.array_agg(ProjectMemberRow.project_id))
            .join(ProjectRow, ProjectRow.id == ProjectMemberRow.project_id)
            .where(
                ProjectMemberRow.user_id == UserRow.id,
                ProjectRow.is_active.is_(True),
                ProjectRow.deleted_at.is_(None),
            )
            .scalar_subquery()
        )
        # The user's main keypair: the oldest live one (admin keypairs first, as bootstrap).
        main_key = (
            select(KeypairRow.access_key)
            .where(
                KeypairRow.user_id == UserRow.id,
                KeypairRow.is_active.is_(True),
                KeypairRow.revoked_at.is_(None),
            )
            .order_by(KeypairRow.is_admin.desc(), KeypairRow.created_at, KeypairRow.access_key)
            .limit(1)
            .scalar_subquery()
        )
        domain_live = DomainRow.is_active.is_(True) & DomainRow.deleted_at.is_(None)
        query = (
            select(UserRow, projects, main_key, domain_live)
            .join(DomainRow, DomainRow.name == UserRow.domain_name)
            .where(condition)
        )
        async with self._sessions() as session:
            row = (await session.execute(query)).one_or_none()
        if row is None:
            return None
        user, project_ids, access_key, domain_active = row
        return LoginAccount(
            user_id=str(user.id),
            email=user.email,
            password_hash=user.password_hash,
            status=user.status if domain_active else UserStatus.INACTIVE,
            need_password_change=user.need_password_change,
            role=user.role,
            domain_name=user.domain_name,
            project_ids=tuple(sorted(str(p) for p in project_ids or ())),
            access_key=access_key or "",
        )
