"""Projects and their members in PostgreSQL."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from services.auth.adapters.domain_store import column_values
from services.auth.adapters.tables import ProjectMemberRow, ProjectRow, UserRow
from services.auth.domain.paging import encode_token
from services.auth.domain.tenancy import Page, PageRequest, Project, ProjectMember
from services.auth.domain.tenancy_errors import ProjectExists
from services.auth.service.tenancy_ports import Changes, Restriction


def as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def project_of(row: ProjectRow) -> Project:
    return Project(
        project_id=str(row.id),
        domain_name=row.domain_name,
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        total_resource_slots=ResourceSlots(row.total_resource_slots),
        allowed_vfolder_hosts=tuple(row.allowed_vfolder_hosts),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


class SqlProjectStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, project: Project) -> Project:
        row = ProjectRow(
            id=uuid.uuid4(),
            domain_name=project.domain_name,
            name=project.name,
            **column_values(
                {
                    "description": project.description,
                    "is_active": project.is_active,
                    "total_resource_slots": project.total_resource_slots,
                    "allowed_vfolder_hosts": project.allowed_vfolder_hosts,
                }
            ),
        )
        try:
            async with self._sessions.begin() as db:
                db.add(row)
        except IntegrityError as exc:
            raise ProjectExists(
                f"project {project.name!r} already exists in domain {project.domain_name!r}"
            ) from exc
        found = await self.get(str(row.id))
        assert found is not None
        return found

    async def get(self, project_id: str) -> Project | None:
        key = as_uuid(project_id)
        if key is None:
            return None
        async with self._sessions() as db:
            row = await db.get(ProjectRow, key)
        return None if row is None else project_of(row)

    async def list(
        self,
        page: PageRequest,
        restriction: Restriction,
        *,
        name_contains: str,
        member_user_id: str,
        is_active: bool | None,
        show_deleted: bool,
    ) -> Page[Project]:
        query = select(ProjectRow).order_by(ProjectRow.id).limit(page.size + 1)
        if page.after and (after := as_uuid(page.after)) is not None:
            query = query.where(ProjectRow.id > after)
        if restriction.domain_name is not None:
            query = query.where(ProjectRow.domain_name == restriction.domain_name)
        if restriction.project_ids is not None:
            ids = [u for p in restriction.project_ids if (u := as_uuid(p)) is not None]
            query = query.where(ProjectRow.id.in_(ids))
        if name_contains:
            query = query.where(ProjectRow.name.icontains(name_contains, autoescape=True))
        if member_user_id:
            members = select(ProjectMemberRow.project_id).where(
                ProjectMemberRow.user_id == as_uuid(member_user_id)
            )
            query = query.where(ProjectRow.id.in_(members))
        if is_active is not None:
            query = query.where(ProjectRow.is_active.is_(is_active))
        if not show_deleted:
            query = query.where(ProjectRow.deleted_at.is_(None))
        async with self._sessions() as db:
            rows = list((await db.scalars(query)).all())
        items = [project_of(r) for r in rows[: page.size]]
        more = len(rows) > page.size
        return Page(items=items, next_token=encode_token(items[-1].project_id) if more else "")

    async def update(self, project_id: str, changes: Changes) -> Project | None:
        key = as_uuid(project_id)
        try:
            async with self._sessions.begin() as db:
                row = await db.get(ProjectRow, key, with_for_update=True)
                if row is None:
                    return None
                for name, value in column_values(changes).items():
                    setattr(row, name, value)
                row.updated_at = func.now()
        except IntegrityError as exc:
            raise ProjectExists(f"a project named {changes.get('name')!r} already exists") from exc
        return await self.get(project_id)

    async def add_member(self, project_id: str, user_id: str) -> None:
        async with self._sessions.begin() as db:
            await db.execute(
                insert(ProjectMemberRow)
                .values(project_id=uuid.UUID(project_id), user_id=uuid.UUID(user_id))
                .on_conflict_do_nothing()
            )

    async def remove_member(self, project_id: str, user_id: str) -> bool:
        async with self._sessions.begin() as db:
            result = await db.execute(
                delete(ProjectMemberRow).where(
                    ProjectMemberRow.project_id == as_uuid(project_id),
                    ProjectMemberRow.user_id == as_uuid(user_id),
                )
            )
        return bool(getattr(result, "rowcount", 0))

    async def members(self, project_id: str, page: PageRequest) -> Page[ProjectMember]:
        query = (
            select(UserRow.id, UserRow.email)
            .join(ProjectMemberRow, ProjectMemberRow.user_id == UserRow.id)
            .where(ProjectMemberRow.project_id == as_uuid(project_id))
            .order_by(UserRow.email)
            .limit(page.size + 1)
        )
        if page.after:
            query = query.where(UserRow.email > page.after)
        async with self._sessions() as db:
            rows = (await db.execute(query)).all()
        items = [
            ProjectMember(project_id=project_id, user_id=str(uid), email=email)
            for uid, email in rows[: page.size]
        ]
        more = len(rows) > page.size
        return Page(items=items, next_token=encode_token(items[-1].email) if more else "")
