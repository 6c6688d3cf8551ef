"""Resource groups: admin CRUD, and the check CreateSession makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from libs.core.access import Resource, Scope, Verb, scope_of
from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from services.registry.domain.errors import (
    ResourceGroupInactive,
    ResourceGroupNotFound,
)
from services.registry.domain.group_scheduling import FIELDS as SCHEDULING_FIELDS
from services.registry.domain.group_scheduling import GroupScheduling
from services.registry.domain.images import ResourceGroup
from services.registry.service.image_ports import ResourceGroupStore
from services.registry.service.pages import Page, cut, limit_for

UPDATABLE = frozenset({"description", "is_active"}) | SCHEDULING_FIELDS


@dataclass(frozen=True, slots=True)
class ResourceGroups:
    store: ResourceGroupStore

    async def create(
        self,
        name: str,
        description: str,
        is_active: bool,
        scheduling: GroupScheduling | None = None,
    ) -> ResourceGroup:
        group = ResourceGroup(
            name=name,
            description=description,
            is_active=is_active,
            created_at=datetime.now(UTC),
            scheduling=(scheduling or GroupScheduling()).normalized(),
        )
        return await self.store.create(group)

    async def get(self, caller: Caller, name: str) -> ResourceGroup:
        group = await self.store.get(name)
        if not group.is_active and not _sees_inactive(caller):
            raise ResourceGroupNotFound(f"resource group {name!r} does not exist")
        return group

    async def list(self, caller: Caller, *, page_size: int, after: str) -> Page[ResourceGroup]:
        limit = limit_for(page_size)
        rows = await self.store.list_groups(
            after=after, limit=limit + 1, active_only=not _sees_inactive(caller)
        )
        return cut(rows, limit, lambda g: (g.name,))

    async def update(
        self,
        name: str,
        fields: dict[str, object],
        scheduling: GroupScheduling | None = None,
    ) -> ResourceGroup:
        """`fields` names the masked fields; scheduling ones are read from `scheduling`."""
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown or not fields:
            raise InvalidArgument(
                f"update_mask may name only {sorted(UPDATABLE)}",
                violations=[FieldViolation("update_mask", f"cannot update {unknown or 'nothing'}")],
            )
        changes = {k: v for k, v in fields.items() if k not in SCHEDULING_FIELDS}
        if SCHEDULING_FIELDS & set(fields):
            current = await self.store.get(name)
            merged = current.scheduling.merged(scheduling or GroupScheduling(), fields)
            changes.update(merged.as_columns())
        return await self.store.update(name, changes)

    async def delete(self, name: str) -> None:
        await self.store.delete(name)

    async def require_usable(self, name: str) -> ResourceGroup:
        """The group a new session asks for: it must exist and be active."""
        try:
            group = await self.store.get(name)
        except ResourceGroupNotFound:
            raise InvalidArgument(
                f"resource_group {name!r} does not exist",
                violations=[FieldViolation("resource_group", f"unknown resource group {name!r}")],
                reason="RESOURCE_GROUP_NOT_FOUND",
            ) from None
        if not group.is_active:
            raise ResourceGroupInactive(
                f"resource_group {name!r} is inactive: no new sessions may start in it",
                violations=[FieldViolation("resource_group", f"{name!r} is inactive")],
            )
        return group


def _sees_inactive(caller: Caller) -> bool:
    """Users see the groups they may use (active ones); admins and monitors see all."""
    return scope_of(caller, Resource.RESOURCE_GROUP, Verb.READ) is Scope.ALL
