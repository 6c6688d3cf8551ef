"""Resource presets in PostgreSQL, and the occupancy check-presets reads."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.core.slots import ResourceSlots
from services.registry.adapters.tables import AgentRow, SessionRow
from services.registry.adapters.template_tables import ResourcePresetRow
from services.registry.domain.model import AGENT_OCCUPYING_STATUSES, AgentStatus
from services.registry.domain.presets import PresetExists, PresetNotFound, ResourcePreset
from services.registry.service.presets import Occupancy

_OCCUPYING = [s.value for s in AGENT_OCCUPYING_STATUSES]


def _from_row(row: ResourcePresetRow) -> ResourcePreset:
    return ResourcePreset(
        name=row.name,
        slots=ResourceSlots(row.resource_slots),
        resource_group=row.resource_group,
        created_at=row.created_at,
    )


def _free(available: ResourceSlots, occupied: ResourceSlots) -> ResourceSlots:
    return ResourceSlots({k: v for k, v in (available - occupied).items() if v > 0})


class SqlPresetStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, preset: ResourcePreset) -> ResourcePreset:
        try:
            async with self._sessions.begin() as db:
                row = ResourcePresetRow(
                    name=preset.name,
                    resource_slots=preset.slots.to_strings(),
                    resource_group=preset.resource_group,
                    created_at=preset.created_at,
                )
                db.add(row)
                await db.flush()
                return _from_row(row)
        except IntegrityError:
            pass
        async with self._sessions() as db:
            found = await db.get(ResourcePresetRow, preset.name)
            if found is not None:
                same = _from_row(found)
                if (same.slots, same.resource_group) == (preset.slots, preset.resource_group):
                    return same  # a retried create
        raise PresetExists(
            f"resource preset {preset.name!r} already exists", metadata={"name": preset.name}
        )

    async def list(self, resource_groups: Sequence[str] | None) -> list[ResourcePreset]:
        p = ResourcePresetRow
        stmt = select(p).order_by(p.name)
        if resource_groups is not None:
            stmt = stmt.where(or_(p.resource_group == "", p.resource_group.in_(resource_groups)))
        async with self._sessions() as db:
            return [_from_row(r) for r in (await db.execute(stmt)).scalars()]

    async def update(self, preset: ResourcePreset) -> ResourcePreset:
        async with self._sessions.begin() as db:
            row = await db.get(ResourcePresetRow, preset.name, with_for_update=True)
            if row is None:
                raise PresetNotFound.named(preset.name)
            row.resource_slots = preset.slots.to_strings()
            row.resource_group = preset.resource_group
            await db.flush()
            return _from_row(row)

    async def delete(self, name: str) -> None:
        async with self._sessions.begin() as db:
            result = await db.execute(
                delete(ResourcePresetRow).where(ResourcePresetRow.name == name)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise PresetNotFound.named(name)

    async def occupancy(
        self, *, access_key: str, project_id: str, domain_name: str, groups: Sequence[str]
    ) -> Occupancy:
        s = SessionRow
        live = select(
            s.access_key, s.project_id, s.domain_name, s.resource_group, s.requested_slots
        ).where(
            s.status.in_(_OCCUPYING),
            or_(
                s.access_key == access_key, s.project_id == project_id, s.domain_name == domain_name
            ),
        )
        agents = select(
            AgentRow.resource_group, AgentRow.available_slots, AgentRow.occupied_slots
        ).where(
            AgentRow.status == AgentStatus.ALIVE.value,
            AgentRow.schedulable.is_(True),
            AgentRow.resource_group.in_(groups),
        )
        keypair, project, domain = ResourceSlots(), ResourceSlots(), ResourceSlots()
        by_group: dict[str, ResourceSlots] = {}
        async with self._sessions() as db:
            for ak, pid, dom, group, slots in (await db.execute(live)).all():
                amount = ResourceSlots(slots)
                if ak == access_key:
                    keypair = keypair + amount
                    by_group[group] = by_group.get(group, ResourceSlots()) + amount
                if pid == project_id:
                    project = project + amount
                if dom == domain_name:
                    domain = domain + amount
            free = [
                (group, _free(ResourceSlots(available), ResourceSlots(occupied)))
                for group, available, occupied in (await db.execute(agents)).all()
            ]
        return Occupancy(
            keypair=keypair, project=project, domain=domain, by_group=by_group, agents_free=free
        )
