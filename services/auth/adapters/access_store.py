"""Resource-group allow-lists: three association tables (domains, projects, keypairs)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, union
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.errors import FieldViolation, InvalidArgument
from services.auth.adapters.project_store import as_uuid
from services.auth.adapters.tables import (
    DomainRow,
    ResourceGroupDomainRow,
    ResourceGroupKeypairRow,
    ResourceGroupProjectRow,
)
from services.auth.domain.paging import encode_token
from services.auth.domain.tenancy import Page, PageRequest, ResourceGroupAccess

_D, _P, _K = ResourceGroupDomainRow, ResourceGroupProjectRow, ResourceGroupKeypairRow


class SqlAccessStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, resource_group: str) -> ResourceGroupAccess:
        async with self._sessions() as db:
            return await _load(db, resource_group)

    async def list(
        self, page: PageRequest, *, domain_name: str, project_id: str, access_key: str
    ) -> Page[ResourceGroupAccess]:
        parts = []
        if domain_name or not (project_id or access_key):
            q = select(_D.resource_group)
            parts.append(q.where(_D.domain_name == domain_name) if domain_name else q)
        if project_id or not (domain_name or access_key):
            q = select(_P.resource_group)
            parts.append(q.where(_P.project_id == as_uuid(project_id)) if project_id else q)
        if access_key or not (domain_name or project_id):
            q = select(_K.resource_group)
            parts.append(q.where(_K.access_key == access_key) if access_key else q)
        names = union(*parts).subquery()
        query = select(names.c.resource_group).order_by(names.c.resource_group)
        if page.after:
            query = query.where(names.c.resource_group > page.after)
        async with self._sessions() as db:
            groups = list((await db.scalars(query.limit(page.size + 1))).all())
            items = [await _load(db, g) for g in groups[: page.size]]
        more = len(groups) > page.size
        return Page(items=items, next_token=encode_token(items[-1].resource_group) if more else "")

    async def replace(self, access: ResourceGroupAccess, fields: Sequence[str]) -> None:
        group = access.resource_group
        try:
            async with self._sessions.begin() as db:
                if "domain_names" in fields:
                    await db.execute(delete(_D).where(_D.resource_group == group))
                    for name in access.domain_names:
                        await db.execute(insert(_D).values(resource_group=group, domain_name=name))
                if "project_ids" in fields:
                    await db.execute(delete(_P).where(_P.resource_group == group))
                    for pid in access.project_ids:
                        await db.execute(
                            insert(_P).values(resource_group=group, project_id=uuid.UUID(pid))
                        )
                if "access_keys" in fields:
                    await db.execute(delete(_K).where(_K.resource_group == group))
                    for key in access.access_keys:
                        await db.execute(insert(_K).values(resource_group=group, access_key=key))
        except IntegrityError as exc:
            # A foreign key caught a name that does not exist.
            raise InvalidArgument(
                "access lists name an unknown domain, project or keypair",
                violations=[FieldViolation("access", "every entry must exist")],
            ) from exc

    async def allowed_groups(
        self, *, domain_name: str, project_id: str, access_key: str
    ) -> tuple[str, ...]:
        active_domain = select(DomainRow.name).where(
            DomainRow.name == domain_name, DomainRow.is_active.is_(True)
        )
        query = union(
            select(_D.resource_group).where(_D.domain_name.in_(active_domain)),
            select(_P.resource_group).where(_P.project_id == as_uuid(project_id)),
            select(_K.resource_group).where(_K.access_key == access_key),
        ).subquery()
        async with self._sessions() as db:
            rows = await db.scalars(select(query.c.resource_group).order_by(query.c.resource_group))
            return tuple(rows.all())


async def _load(db: AsyncSession, group: str) -> ResourceGroupAccess:
    domains = await db.scalars(select(_D.domain_name).where(_D.resource_group == group))
    projects = await db.scalars(select(_P.project_id).where(_P.resource_group == group))
    keys = await db.scalars(select(_K.access_key).where(_K.resource_group == group))
    return ResourceGroupAccess(
        resource_group=group,
        domain_names=tuple(sorted(domains.all())),
        project_ids=tuple(sorted(str(p) for p in projects.all())),
        access_keys=tuple(sorted(keys.all())),
    )
