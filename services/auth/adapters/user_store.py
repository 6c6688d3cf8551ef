"""Users in PostgreSQL (with the projects they belong to)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ScalarSelect, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.identity import Role
from services.auth.adapters.project_store import as_uuid
from services.auth.adapters.tables import ProjectMemberRow, ProjectRow, UserRow
from services.auth.domain.model import UserStatus
from services.auth.domain.paging import encode_token
from services.auth.domain.tenancy import Page, PageRequest, User
from services.auth.domain.tenancy_errors import EmailTaken
from services.auth.service.tenancy_ports import Changes, Restriction


def user_projects() -> ScalarSelect[Any]:
    """The ids of the projects (not deleted) the user of the enclosing query belongs to."""
    return (
        select(func.array_agg(ProjectMemberRow.project_id))
        .join(ProjectRow, ProjectRow.id == ProjectMemberRow.project_id)
        .where(ProjectMemberRow.user_id == UserRow.id, ProjectRow.deleted_at.is_(None))
        .scalar_subquery()
    )


def _with_projects() -> Select[UserRow, Any]:
    return select(UserRow, user_projects())


def user_of(row: UserRow, project_ids: Sequence[uuid.UUID] | None) -> User:
    return User(
        user_id=str(row.id),
        email=row.email,
        domain_name=row.domain_name,
        username=row.username,
        full_name=row.full_name,
        description=row.description,
        role=row.role,
        status=row.status,
        need_password_change=row.need_password_change,
        project_ids=tuple(sorted(str(p) for p in project_ids or ())),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlUserStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self, user: User, password_hash: str | None, project_ids: Sequence[str]
    ) -> User:
        user_id = uuid.uuid4()
        try:
            async with self._sessions.begin() as db:
                db.add(
                    UserRow(
                        id=user_id,
                        email=user.email,
                        username=user.username,
                        full_name=user.full_name,
                        description=user.description,
                        role=user.role,
                        status=user.status,
                        domain_name=user.domain_name,
                        password_hash=password_hash,
                        need_password_change=user.need_password_change,
                    )
                )
                await db.flush()
                for project_id in project_ids:
                    db.add(ProjectMemberRow(project_id=uuid.UUID(project_id), user_id=user_id))
        except IntegrityError as exc:
            raise EmailTaken(f"a user with e-mail {user.email!r} already exists") from exc
        found = await self.get(str(user_id))
        assert found is not None
        return found

    async def get(self, user_id: str) -> User | None:
        key = as_uuid(user_id)
        if key is None:
            return None
        async with self._sessions() as db:
            row = (await db.execute(_with_projects().where(UserRow.id == key))).one_or_none()
        return None if row is None else user_of(row[0], row[1])

    async def list(
        self,
        page: PageRequest,
        restriction: Restriction,
        *,
        role: str,
        status: str,
        email_contains: str,
        project_id: str,
        show_deleted: bool,
    ) -> Page[User]:
        query = _with_projects().order_by(UserRow.email).limit(page.size + 1)
        if page.after:
            query = query.where(UserRow.email > page.after)
        if restriction.domain_name is not None:
            query = query.where(UserRow.domain_name == restriction.domain_name)
        if restriction.user_id is not None:
            query = query.where(UserRow.id == as_uuid(restriction.user_id))
        if role:
            query = query.where(UserRow.role == Role(role))
        if status:
            query = query.where(UserRow.status == UserStatus(status))
        elif not show_deleted:
            query = query.where(UserRow.status != UserStatus.DELETED)
        if email_contains:
            query = query.where(UserRow.email.icontains(email_contains, autoescape=True))
        if project_id:
            members = select(ProjectMemberRow.user_id).where(
                ProjectMemberRow.project_id == as_uuid(project_id)
            )
            query = query.where(UserRow.id.in_(members))
        async with self._sessions() as db:
            rows = (await db.execute(query)).all()
        items = [user_of(r[0], r[1]) for r in rows[: page.size]]
        more = len(rows) > page.size
        return Page(items=items, next_token=encode_token(items[-1].email) if more else "")

    async def update(self, user_id: str, changes: Changes) -> User | None:
        try:
            async with self._sessions.begin() as db:
                row = await db.get(UserRow, as_uuid(user_id), with_for_update=True)
                if row is None:
                    return None
                for name, value in changes.items():
                    setattr(row, name, value)
                row.updated_at = func.now()
        except IntegrityError as exc:
            raise EmailTaken(f"a user with e-mail {changes.get('email')!r} already exists") from exc
        return await self.get(user_id)

    async def password_hash(self, email: str) -> tuple[User, str | None] | None:
        async with self._sessions() as db:
            row = (await db.execute(_with_projects().where(UserRow.email == email))).one_or_none()
        return None if row is None else (user_of(row[0], row[1]), row[0].password_hash)
