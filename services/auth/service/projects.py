"""Project administration: domain admins manage their domain's projects and members."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from libs.core.access import Resource, Verb
from libs.core.identity import Caller
from services.auth.domain.tenancy import Page, PageRequest, Project, ProjectMember, User
from services.auth.domain.tenancy_errors import (
    DomainInactive,
    DomainNotFound,
    ForeignDomain,
    MemberNotFound,
    ProjectNotFound,
    UserNotFound,
)
from services.auth.service.deactivation import Deactivation, Ended
from services.auth.service.scoping import (
    check_mask,
    restriction,
    scope,
    sees_domain,
    sees_project,
    sees_user,
)
from services.auth.service.tenancy_ports import (
    Changes,
    DomainStore,
    KeypairAdminStore,
    Owners,
    ProjectStore,
    UserStore,
)

PROJECT_FIELDS = (
    "name",
    "description",
    "is_active",
    "total_resource_slots",
    "allowed_vfolder_hosts",
)


@dataclass(frozen=True, slots=True)
class Projects:
    store: ProjectStore
    domains: DomainStore
    users: UserStore
    keypairs: KeypairAdminStore
    deactivation: Deactivation

    async def create(self, caller: Caller, project: Project) -> Project:
        reach = scope(caller, Resource.PROJECT, Verb.CREATE)
        domain = await self.domains.get(project.domain_name)
        if domain is None or domain.deleted_at or not sees_domain(caller, reach, domain.name):
            raise DomainNotFound(
                f"domain {project.domain_name!r} not found",
                metadata={"domain": project.domain_name},
            )
        if not domain.is_active:
            raise DomainInactive(f"domain {domain.name!r} is inactive")
        return await self.store.create(replace(project, deleted_at=None))

    async def get(self, caller: Caller, project_id: str, verb: Verb = Verb.READ) -> Project:
        reach = scope(caller, Resource.PROJECT, verb)
        found = await self.store.get(project_id)
        if found is None or not sees_project(caller, reach, found):
            raise ProjectNotFound(
                f"project {project_id} not found", metadata={"project_id": project_id}
            )
        return found

    async def list(
        self,
        caller: Caller,
        page: PageRequest,
        *,
        domain_name: str,
        name_contains: str,
        member_user_id: str,
        is_active: bool | None,
        show_deleted: bool,
    ) -> Page[Project]:
        reach = scope(caller, Resource.PROJECT, Verb.READ)
        limit = restriction(caller, reach, own_projects=True)
        if domain_name:
            if limit.domain_name not in (None, domain_name):
                return Page(items=[])
            limit = replace(limit, domain_name=domain_name)
        return await self.store.list(
            page,
            limit,
            name_contains=name_contains,
            member_user_id=member_user_id,
            is_active=is_active,
            show_deleted=show_deleted,
        )

    async def update(
        self, caller: Caller, project_id: str, changes: Changes, *, end_sessions: bool
    ) -> tuple[Project, Ended]:
        await self.get(caller, project_id, Verb.UPDATE)
        check_mask(changes, PROJECT_FIELDS)
        updated = await self._write(project_id, changes)
        return updated, await self._after_change(updated, changes, end_sessions)

    async def delete(
        self, caller: Caller, project_id: str, *, now: datetime, end_sessions: bool
    ) -> tuple[Project, Ended]:
        await self.get(caller, project_id, Verb.DELETE)
        changes = {"is_active": False, "deleted_at": now}
        deleted = await self._write(project_id, changes)
        return deleted, await self._after_change(deleted, changes, end_sessions)

    async def add_member(self, caller: Caller, project_id: str, user_id: str) -> ProjectMember:
        project = await self.get(caller, project_id, Verb.UPDATE)
        user = await self._visible_user(caller, user_id)
        if user.domain_name != project.domain_name:
            raise ForeignDomain(
                f"user {user_id} is not in the project's domain {project.domain_name!r}"
            )
        await self.store.add_member(project_id, user_id)
        await self.deactivation.refresh(await self.keypairs.access_keys_of(user_id))
        return ProjectMember(project_id=project_id, user_id=user_id, email=user.email)

    async def remove_member(self, caller: Caller, project_id: str, user_id: str) -> None:
        await self.get(caller, project_id, Verb.UPDATE)
        if not await self.store.remove_member(project_id, user_id):
            raise MemberNotFound(f"user {user_id} is not a member of project {project_id}")
        await self.deactivation.refresh(await self.keypairs.access_keys_of(user_id))

    async def members(
        self, caller: Caller, project_id: str, page: PageRequest
    ) -> Page[ProjectMember]:
        await self.get(caller, project_id)
        return await self.store.members(project_id, page)

    async def _visible_user(self, caller: Caller, user_id: str) -> User:
        reach = scope(caller, Resource.USER, Verb.READ)
        user = await self.users.get(user_id)
        if user is None or not sees_user(caller, reach, user):
            raise UserNotFound(f"user {user_id} not found", metadata={"user_id": user_id})
        return user

    async def _write(self, project_id: str, changes: Changes) -> Project:
        written = await self.store.update(project_id, changes)
        if written is None:
            raise ProjectNotFound(f"project {project_id} not found")
        return written

    async def _after_change(self, project: Project, changes: Changes, end_sessions: bool) -> Ended:
        if "is_active" not in changes:
            return Ended()
        if project.is_active:
            await self.deactivation.refresh(everything=True)
            return Ended()
        # Members' identities list their active projects: every cached entry may be stale.
        return await self.deactivation.deactivated(
            Owners(project_ids=(project.project_id,)), end_sessions=end_sessions, everything=True
        )
