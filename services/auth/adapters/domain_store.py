"""Domains in PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from services.auth.adapters.tables import DomainRow
from services.auth.domain.paging import encode_token
from services.auth.domain.tenancy import Domain, Page, PageRequest
from services.auth.domain.tenancy_errors import DomainExists
from services.auth.service.tenancy_ports import Changes


def domain_of(row: DomainRow) -> Domain:
    return Domain(
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        total_resource_slots=ResourceSlots(row.total_resource_slots),
        allowed_vfolder_hosts=tuple(row.allowed_vfolder_hosts),
        allowed_docker_registries=tuple(row.allowed_docker_registries),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def column_values(changes: Changes) -> dict[str, Any]:
    """Domain values as column values (slots as strings, tuples as lists)."""
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, ResourceSlots):
            value = value.to_strings()
        elif isinstance(value, tuple):
            value = list(value)
        values[name] = value
    return values


class SqlDomainStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, domain: Domain) -> Domain:
        row = DomainRow(
            name=domain.name,
            **column_values(
                {
                    "description": domain.description,
                    "is_active": domain.is_active,
                    "total_resource_slots": domain.total_resource_slots,
                    "allowed_vfolder_hosts": domain.allowed_vfolder_hosts,
                    "allowed_docker_registries": domain.allowed_docker_registries,
                }
            ),
        )
        try:
            async with self._sessions.begin() as db:
                db.add(row)
        except IntegrityError as exc:
            raise DomainExists(f"domain {domain.name!r} already exists") from exc
        found = await self.get(domain.name)
        assert found is not None
        return found

    async def get(self, name: str) -> Domain | None:
        async with self._sessions() as db:
            row = await db.get(DomainRow, name)
        return None if row is None else domain_of(row)

    async def list(
        self, page: PageRequest, *, is_active: bool | None, show_deleted: bool, only: str | None
    ) -> Page[Domain]:
        query = select(DomainRow).order_by(DomainRow.name).limit(page.size + 1)
        if page.after:
            query = query.where(DomainRow.name > page.after)
        if is_active is not None:
            query = query.where(DomainRow.is_active.is_(is_active))
        if not show_deleted:
            query = query.where(DomainRow.deleted_at.is_(None))
        if only is not None:
            query = query.where(DomainRow.name == only)
        async with self._sessions() as db:
            rows = list((await db.scalars(query)).all())
        items = [domain_of(r) for r in rows[: page.size]]
        more = len(rows) > page.size
        return Page(items=items, next_token=encode_token(items[-1].name) if more else "")

    async def update(self, name: str, changes: Changes) -> Domain | None:
        async with self._sessions.begin() as db:
            row = await db.get(DomainRow, name, with_for_update=True)
            if row is None:
                return None
            for key, value in column_values(changes).items():
                setattr(row, key, value)
            row.updated_at = func.now()
        return await self.get(name)
