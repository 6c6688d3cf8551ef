"""Domain administration: superadmins manage domains; others read their own."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from libs.core.access import Resource, Scope, Verb
from libs.core.identity import Caller
from services.auth.domain.tenancy import Domain, Page, PageRequest
from services.auth.domain.tenancy_errors import DomainNotFound
from services.auth.service.deactivation import Deactivation, Ended
from services.auth.service.scoping import check_mask, scope, sees_domain
from services.auth.service.tenancy_ports import Changes, DomainStore, Owners

DOMAIN_FIELDS = (
    "description",
    "is_active",
    "total_resource_slots",
    "allowed_vfolder_hosts",
    "allowed_docker_registries",
)


@dataclass(frozen=True, slots=True)
class Domains:
    store: DomainStore
    deactivation: Deactivation

    async def create(self, caller: Caller, domain: Domain) -> Domain:
        scope(caller, Resource.DOMAIN, Verb.CREATE)
        return await self.store.create(replace(domain, deleted_at=None))

    async def get(self, caller: Caller, name: str) -> Domain:
        reach = scope(caller, Resource.DOMAIN, Verb.READ)
        found = await self.store.get(name) if sees_domain(caller, reach, name) else None
        if found is None:
            raise DomainNotFound(f"domain {name!r} not found", metadata={"domain": name})
        return found

    async def list(
        self, caller: Caller, page: PageRequest, *, is_active: bool | None, show_deleted: bool
    ) -> Page[Domain]:
        reach = scope(caller, Resource.DOMAIN, Verb.READ)
        only = None if caller.system or reach is Scope.ALL else caller.domain_name
        return await self.store.list(
            page, is_active=is_active, show_deleted=show_deleted, only=only
        )

    async def update(
        self, caller: Caller, name: str, changes: Changes, *, end_sessions: bool
    ) -> tuple[Domain, Ended]:
        await self.get(caller, name)
        scope(caller, Resource.DOMAIN, Verb.UPDATE)
        check_mask(changes, DOMAIN_FIELDS)
        updated = await self.store.update(name, changes)
        if updated is None:
            raise DomainNotFound(f"domain {name!r} not found", metadata={"domain": name})
        return updated, await self._after_change(updated, changes, end_sessions)

    async def delete(
        self, caller: Caller, name: str, *, now: datetime, end_sessions: bool
    ) -> tuple[Domain, Ended]:
        await self.get(caller, name)
        scope(caller, Resource.DOMAIN, Verb.DELETE)
        changes = {"is_active": False, "deleted_at": now}
        deleted = await self.store.update(name, changes)
        if deleted is None:
            raise DomainNotFound(f"domain {name!r} not found", metadata={"domain": name})
        return deleted, await self._after_change(deleted, changes, end_sessions)

    async def _after_change(self, domain: Domain, changes: Changes, end_sessions: bool) -> Ended:
        if "is_active" not in changes:
            return Ended()
        if domain.is_active:
            await self.deactivation.refresh(everything=True)
            return Ended()
        return await self.deactivation.deactivated(
            Owners(domain_names=(domain.name,)), end_sessions=end_sessions, everything=True
        )
