"""Resource policies (superadmins write, domain admins read) and resource-group access lists."""

from __future__ import annotations

from dataclasses import dataclass, replace

from libs.core.access import Resource, Scope, Verb
from libs.core.identity import Caller
from services.auth.domain.tenancy import Page, PageRequest, ResourceGroupAccess, ResourcePolicy
from services.auth.domain.tenancy_errors import PolicyNotFound
from services.auth.service.scoping import check_mask, scope
from services.auth.service.tenancy_ports import AccessStore, Changes, PolicyStore, ProjectStore

POLICY_FIELDS = (
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
ACCESS_FIELDS = ("domain_names", "project_ids", "access_keys")


@dataclass(frozen=True, slots=True)
class Policies:
    store: PolicyStore

    async def create(self, caller: Caller, policy: ResourcePolicy) -> ResourcePolicy:
        scope(caller, Resource.RESOURCE_POLICY, Verb.CREATE)
        return await self.store.create(policy)

    async def get(self, caller: Caller, name: str) -> ResourcePolicy:
        scope(caller, Resource.RESOURCE_POLICY, Verb.READ)
        found = await self.store.get(name)
        if found is None:
            raise PolicyNotFound(f"resource policy {name!r} not found", metadata={"name": name})
        return found

    async def list(
        self, caller: Caller, page: PageRequest, *, name_contains: str
    ) -> Page[ResourcePolicy]:
        scope(caller, Resource.RESOURCE_POLICY, Verb.READ)
        return await self.store.list(page, name_contains=name_contains)

    async def update(self, caller: Caller, name: str, changes: Changes) -> ResourcePolicy:
        scope(caller, Resource.RESOURCE_POLICY, Verb.UPDATE)
        check_mask(changes, POLICY_FIELDS)
        updated = await self.store.update(name, changes)
        if updated is None:
            raise PolicyNotFound(f"resource policy {name!r} not found", metadata={"name": name})
        return updated

    async def delete(self, caller: Caller, name: str) -> None:
        scope(caller, Resource.RESOURCE_POLICY, Verb.DELETE)
        if not await self.store.delete(name):
            raise PolicyNotFound(f"resource policy {name!r} not found", metadata={"name": name})


@dataclass(frozen=True, slots=True)
class AccessLists:
    store: AccessStore
    projects: ProjectStore

    async def get(self, caller: Caller, resource_group: str) -> ResourceGroupAccess:
        reach = scope(caller, Resource.RESOURCE_GROUP_ACCESS, Verb.READ)
        return await self._visible(caller, reach, await self.store.get(resource_group))

    async def list(
        self,
        caller: Caller,
        page: PageRequest,
        *,
        domain_name: str,
        project_id: str,
        access_key: str,
    ) -> Page[ResourceGroupAccess]:
        reach = scope(caller, Resource.RESOURCE_GROUP_ACCESS, Verb.READ)
        found = await self.store.list(
            page, domain_name=domain_name, project_id=project_id, access_key=access_key
        )
        items = [await self._visible(caller, reach, a) for a in found.items]
        return Page(items=items, next_token=found.next_token)

    async def update(
        self, caller: Caller, access: ResourceGroupAccess, fields: tuple[str, ...]
    ) -> ResourceGroupAccess:
        scope(caller, Resource.RESOURCE_GROUP_ACCESS, Verb.UPDATE)
        check_mask(dict.fromkeys(fields), ACCESS_FIELDS)
        await self.store.replace(access, fields)
        return await self.store.get(access.resource_group)

    async def _visible(
        self, caller: Caller, reach: Scope, access: ResourceGroupAccess
    ) -> ResourceGroupAccess:
        """Domain admins see only the entries of their own domain (no other tenant's names)."""
        if caller.system or reach is Scope.ALL:
            return access
        mine = caller.domain_name
        projects = [
            p
            for p in access.project_ids
            if (found := await self.projects.get(p)) is not None and found.domain_name == mine
        ]
        return replace(
            access,
            domain_names=tuple(d for d in access.domain_names if d == mine),
            project_ids=tuple(projects),
            access_keys=(),  # keypairs are listed per domain through KeypairService instead
        )
