"""Resource policies in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from services.auth.adapters.tables import KeypairRow, ResourcePolicyRow
from services.auth.domain.paging import encode_token
from services.auth.domain.tenancy import DefaultForUnspecified, Page, PageRequest, ResourcePolicy
from services.auth.domain.tenancy_errors import PolicyExists, PolicyInUse
from services.auth.service.tenancy_ports import Changes


def policy_of(row: ResourcePolicyRow) -> ResourcePolicy:
    return ResourcePolicy(
        name=row.name,
        default_for_unspecified=DefaultForUnspecified(row.default_for_unspecified),
        total_resource_slots=ResourceSlots(row.total_resource_slots),
        max_concurrent_sessions=row.max_concurrent_sessions,
        max_containers_per_session=row.max_containers_per_session,
        max_session_lifetime=timedelta(seconds=row.max_session_lifetime),
        idle_timeout=timedelta(seconds=row.idle_timeout),
        max_pending_sessions=row.max_pending_sessions,
        max_vfolder_count=row.max_vfolder_count,
        max_vfolder_size=row.max_vfolder_size,
        allowed_vfolder_hosts=tuple(row.allowed_vfolder_hosts),
        max_session_priority=row.max_session_priority,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _columns(changes: Changes) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, ResourceSlots):
            value = value.to_strings()
        elif isinstance(value, timedelta):
            value = int(value.total_seconds())
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, DefaultForUnspecified):
            value = value.value
        values[name] = value
    return values


_FIELDS = (
    "default_for_unspecified",
    "total_resource_slots",
    "max_concurrent_sessions",
    "max_containers_per_session",
    "max_session_lifetime",
    "idle_timeout",
    "max_pending_sessions",
    "max_vfolder_count",
    "max_vfolder_size",
    "allowed_vfolder_hosts",
    "max_session_priority",
)


class SqlPolicyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, policy: ResourcePolicy) -> ResourcePolicy:
        values = _columns({f: getattr(policy, f) for f in _FIELDS})
        try:
            async with self._sessions.begin() as db:
                db.add(ResourcePolicyRow(name=policy.name, **values))
        except IntegrityError as exc:
            raise PolicyExists(f"resource policy {policy.name!r} already exists") from exc
        found = await self.get(policy.name)
        assert found is not None
        return found

    async def get(self, name: str) -> ResourcePolicy | None:
        async with self._sessions() as db:
            row = await db.get(ResourcePolicyRow, name)
        return None if row is None else policy_of(row)

    async def get_many(self, names: Sequence[str]) -> dict[str, ResourcePolicy]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(ResourcePolicyRow).where(ResourcePolicyRow.name.in_(list(names)))
            )
            return {r.name: policy_of(r) for r in rows.all()}

    async def list(self, page: PageRequest, *, name_contains: str) -> Page[ResourcePolicy]:
        query = select(ResourcePolicyRow).order_by(ResourcePolicyRow.name).limit(page.size + 1)
        if page.after:
            query = query.where(ResourcePolicyRow.name > page.after)
        if name_contains:
            query = query.where(ResourcePolicyRow.name.icontains(name_contains, autoescape=True))
        async with self._sessions() as db:
            rows = list((await db.scalars(query)).all())
        items = [policy_of(r) for r in rows[: page.size]]
        more = len(rows) > page.size
        return Page(items=items, next_token=encode_token(items[-1].name) if more else "")

    async def update(self, name: str, changes: Changes) -> ResourcePolicy | None:
        async with self._sessions.begin() as db:
            row = await db.get(ResourcePolicyRow, name, with_for_update=True)
            if row is None:
                return None
            for key, value in _columns(changes).items():
                setattr(row, key, value)
            row.updated_at = func.now()
        return await self.get(name)

    async def delete(self, name: str) -> bool:
        async with self._sessions.begin() as db:
            row = await db.get(ResourcePolicyRow, name, with_for_update=True)
            if row is None:
                return False
            users = await db.scalar(
                select(func.count())
                .select_from(KeypairRow)
                .where(KeypairRow.resource_policy == name)
            )
            if users:
                raise PolicyInUse(
                    f"resource policy {name!r} is used by {users} keypair(s)",
                    metadata={"keypairs": str(users)},
                )
            await db.delete(row)
        return True
