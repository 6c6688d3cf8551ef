"""Resource presets (superadmins write them; the access table says so) and check-presets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from libs.core.slots import ResourceSlots
from services.registry.domain.errors import ResourceGroupNotFound
from services.registry.domain.presets import (
    PresetCheck,
    ResourcePreset,
    TenantLimits,
    check_presets,
)
from services.registry.domain.templates import MAX_AMOUNT


@dataclass(frozen=True, slots=True, kw_only=True)
class Occupancy:
    """Slots held by live sessions (SCHEDULED to TERMINATING) and agents' free capacity."""

    keypair: ResourceSlots
    project: ResourceSlots
    domain: ResourceSlots
    by_group: dict[str, ResourceSlots]  # the keypair's sessions, by resource group
    agents_free: list[tuple[str, ResourceSlots]]  # (group, free) per schedulable live agent


class PresetStore(Protocol):
    async def create(self, preset: ResourcePreset) -> ResourcePreset: ...
    async def list(self, resource_groups: Sequence[str] | None) -> list[ResourcePreset]: ...
    async def update(self, preset: ResourcePreset) -> ResourcePreset: ...
    async def delete(self, name: str) -> None: ...
    async def occupancy(
        self, *, access_key: str, project_id: str, domain_name: str, groups: Sequence[str]
    ) -> Occupancy: ...


class LimitsReader(Protocol):
    async def limits(self, caller: Caller, *, project_id: str) -> TenantLimits: ...


def _checked(preset: ResourcePreset) -> ResourcePreset:
    field = "resource_preset.resource_slots"
    if not preset.slots:
        raise InvalidArgument(
            "a preset needs at least one positive slot",
            violations=[FieldViolation(field, "at least one slot")],
        )
    huge = [slot for slot, amount in preset.slots.items() if amount >= MAX_AMOUNT]
    if huge:
        raise InvalidArgument(
            f"{field}.{huge[0]} must be below 10^24",
            violations=[FieldViolation(f"{field}.{huge[0]}", "must be below 10^24")],
        )
    return preset


class ResourcePresets:
    def __init__(self, store: PresetStore, limits: LimitsReader) -> None:
        self._store = store
        self._limits = limits

    async def create(self, preset: ResourcePreset) -> ResourcePreset:
        return await self._store.create(replace(_checked(preset), created_at=datetime.now(UTC)))

    async def list(self, resource_group: str) -> list[ResourcePreset]:
        return await self._store.list([resource_group] if resource_group else None)

    async def update(self, preset: ResourcePreset) -> ResourcePreset:
        return await self._store.update(_checked(preset))

    async def delete(self, name: str) -> None:
        await self._store.delete(name)

    async def check(self, caller: Caller, *, project_id: str, resource_group: str) -> PresetCheck:
        project_id = project_id or (caller.project_ids[0] if caller.project_ids else "")
        if not project_id:
            raise InvalidArgument(
                "you belong to no project; pass project_id",
                violations=[FieldViolation("project_id", "required: you belong to no project")],
            )
        limits = await self._limits.limits(caller, project_id=project_id)
        groups = list(limits.allowed_resource_groups)
        if resource_group:
            if resource_group not in groups:
                raise ResourceGroupNotFound.named(resource_group)
            groups = [resource_group]
        used = await self._store.occupancy(
            access_key=caller.access_key,
            project_id=project_id,
            domain_name=caller.domain_name,
            groups=groups,
        )
        return check_presets(
            keypair=(limits.keypair, used.keypair),
            project=(limits.project, used.project),
            domain=(limits.domain, used.domain),
            groups=groups,
            using_by_group=used.by_group,
            agents_free=used.agents_free,
            presets=await self._store.list(groups),
        )
