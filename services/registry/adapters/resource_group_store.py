"""Resource groups in PostgreSQL. Deletion and agent registration lock the group row, so an
agent cannot join a group while it is being deleted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.reads import Fields, ReadPool
from services.registry.adapters.image_tables import ResourceGroupRow
from services.registry.adapters.tables import AgentRow, SessionRow
from services.registry.domain.errors import (
    ResourceGroupExists,
    ResourceGroupInUse,
    ResourceGroupNotFound,
)
from services.registry.domain.group_scheduling import GroupScheduling
from services.registry.domain.images import ResourceGroup
from services.registry.domain.model import DEAD_STATUSES, AgentStatus
from services.registry.domain.utilization import UtilizationPolicy

_GROUPS = cast(Table, ResourceGroupRow.__table__)
_GET = f"SELECT {', '.join(_GROUPS.c.keys())} FROM {_GROUPS.fullname} WHERE name = $1"


def group_from_row(row: ResourceGroupRow) -> ResourceGroup:
    return ResourceGroup(
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        scheduling=GroupScheduling(
            scheduler=row.scheduler,
            scheduler_options=dict(row.scheduler_options or {}),
            agent_selector=row.agent_selector,
            allowed_session_types=tuple(row.allowed_session_types or ()),
            pending_timeout_seconds=row.pending_timeout_seconds,
            reservation_wait_seconds=row.reservation_wait_seconds,
            idle_utilization=UtilizationPolicy.from_dict(row.idle_utilization),
        ),
    )


async def lock_group(db: AsyncSession, name: str, *, exclusive: bool) -> ResourceGroupRow:
    stmt = select(ResourceGroupRow).where(ResourceGroupRow.name == name)
    stmt = stmt.with_for_update() if exclusive else stmt.with_for_update(read=True)
    row = (await db.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise ResourceGroupNotFound(
            f"resource_group {name!r} does not exist",
            metadata={"field": "resource_group", "resource_group": name},
        )
    return row


class SqlResourceGroupStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], reads: ReadPool | None = None
    ) -> None:
        self._sessions = sessions
        self._reads = reads

    async def create(self, group: ResourceGroup) -> ResourceGroup:
        try:
            async with self._sessions.begin() as db:
                row = ResourceGroupRow(
                    name=group.name,
                    description=group.description,
                    is_active=group.is_active,
                    created_at=group.created_at,
                    **group.scheduling.as_columns(),
                )
                db.add(row)
                await db.flush()
                return group_from_row(row)
        except IntegrityError:
            raise ResourceGroupExists(f"resource group {group.name!r} already exists") from None

    async def get(self, name: str) -> ResourceGroup:
        if self._reads is not None:  # every CreateSession asks (docs/decisions.md, D5)
            found = await self._reads.fetchrow(_GET, name)
            if found is None:
                raise ResourceGroupNotFound(f"resource group {name!r} does not exist")
            return group_from_row(cast(ResourceGroupRow, Fields(found)))
        async with self._sessions() as db:
            row = await db.get(ResourceGroupRow, name)
            if row is None:
                raise ResourceGroupNotFound(f"resource group {name!r} does not exist")
            return group_from_row(row)

    async def list_groups(
        self, *, after: str, limit: int, active_only: bool
    ) -> list[ResourceGroup]:
        stmt = select(ResourceGroupRow).where(ResourceGroupRow.name > after)
        if active_only:
            stmt = stmt.where(ResourceGroupRow.is_active.is_(True))
        async with self._sessions() as db:
            rows = await db.execute(stmt.order_by(ResourceGroupRow.name).limit(limit))
            return [group_from_row(r) for r in rows.scalars()]

    async def update(self, name: str, changes: Mapping[str, object]) -> ResourceGroup:
        async with self._sessions.begin() as db:
            row = await lock_group(db, name, exclusive=True)
            for key, value in changes.items():
                setattr(row, key, value)
            return group_from_row(row)

    async def delete(self, name: str) -> None:
        async with self._sessions.begin() as db:
            row = await lock_group(db, name, exclusive=True)
            agents = await db.scalar(
                select(func.count())
                .select_from(AgentRow)
                .where(AgentRow.resource_group == name, AgentRow.status == AgentStatus.ALIVE.value)
            )
            sessions = await db.scalar(
                select(func.count())
                .select_from(SessionRow)
                .where(
                    SessionRow.resource_group == name,
                    SessionRow.status.not_in([s.value for s in DEAD_STATUSES]),
                )
            )
            if agents or sessions:
                raise ResourceGroupInUse(
                    f"resource group {name!r} still has {agents} live agents and {sessions} live "
                    "sessions; move or stop them first"
                )
            await db.delete(row)
