"""User administration: domain admins manage their domain's users; users read themselves."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from libs.core.access import Resource, Verb
from libs.core.errors import FailedPrecondition, FieldViolation, InvalidArgument
from libs.core.identity import Caller, Role
from services.auth.domain.model import UserStatus
from services.auth.domain.tenancy import Page, PageRequest, User
from services.auth.domain.tenancy_errors import (
    DomainInactive,
    DomainNotFound,
    ForeignDomain,
    ProjectNotFound,
    RoleNotGrantable,
    UserDeleted,
    UserNotFound,
)
from services.auth.service.deactivation import Deactivation, Ended
from services.auth.service.scoping import check_mask, restriction, scope, sees_domain, sees_user
from services.auth.service.tenancy_ports import (
    Changes,
    DomainStore,
    KeypairAdminStore,
    Owners,
    PasswordHasher,
    ProjectStore,
    UserStore,
)

USER_FIELDS = (
    "email",
    "username",
    "full_name",
    "description",
    "role",
    "status",
    "need_password_change",
    "password",
)
# Roles a domain admin may hand out: never one that reaches beyond the domain.
_DOMAIN_ADMIN_GRANTS = (Role.USER, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Users:
    store: UserStore
    domains: DomainStore
    projects: ProjectStore
    keypairs: KeypairAdminStore
    passwords: PasswordHasher
    deactivation: Deactivation

    async def create(
        self, caller: Caller, user: User, password: str, project_ids: tuple[str, ...]
    ) -> User:
        reach = scope(caller, Resource.USER, Verb.CREATE)
        domain = await self.domains.get(user.domain_name)
        if domain is None or domain.deleted_at or not sees_domain(caller, reach, domain.name):
            raise DomainNotFound(
                f"domain {user.domain_name!r} not found", metadata={"domain": user.domain_name}
            )
        if not domain.is_active:
            raise DomainInactive(f"domain {domain.name!r} is inactive")
        _check_grant(caller, user.role)
        if user.status is UserStatus.DELETED:
            raise _bad("user.status", "a new user cannot be deleted")
        for project_id in project_ids:
            project = await self.projects.get(project_id)
            if project is None or project.deleted_at:
                raise ProjectNotFound(f"project {project_id} not found")
            if project.domain_name != domain.name:
                raise ForeignDomain(f"project {project_id} is not in domain {domain.name!r}")
        username = user.username or user.email.partition("@")[0]
        return await self.store.create(
            replace(user, username=username), self.passwords.hash(password), project_ids
        )

    async def get(self, caller: Caller, user_id: str, verb: Verb = Verb.READ) -> User:
        reach = scope(caller, Resource.USER, verb)
        found = await self.store.get(user_id)
        if found is None or not sees_user(caller, reach, found):
            raise UserNotFound(f"user {user_id} not found", metadata={"user_id": user_id})
        return found

    async def list(
        self,
        caller: Caller,
        page: PageRequest,
        *,
        domain_name: str,
        role: str,
        status: str,
        email_contains: str,
        project_id: str,
        show_deleted: bool,
    ) -> Page[User]:
        reach = scope(caller, Resource.USER, Verb.READ)
        limit = restriction(caller, reach)
        if domain_name:
            if limit.domain_name not in (None, domain_name):
                return Page(items=[])
            limit = replace(limit, domain_name=domain_name)
        return await self.store.list(
            page,
            limit,
            role=role,
            status=status,
            email_contains=email_contains,
            project_id=project_id,
            show_deleted=show_deleted,
        )

    async def update(
        self, caller: Caller, user_id: str, changes: Changes, *, end_sessions: bool
    ) -> tuple[User, Ended]:
        target = await self._changeable(caller, user_id, Verb.UPDATE)
        check_mask(changes, USER_FIELDS)
        values = dict(changes)
        if "role" in values:
            _check_grant(caller, values["role"])
        if values.get("status") is UserStatus.DELETED:
            raise _bad("user.status", "use DeleteUser to delete a user")
        if values.get("status") is UserStatus.INACTIVE and user_id == caller.user_id:
            raise FailedPrecondition("you cannot deactivate your own account")
        if "password" in values:
            values["password_hash"] = self.passwords.hash(str(values.pop("password")))
        updated = await self.store.update(user_id, values)
        if updated is None:
            raise UserNotFound(f"user {user_id} not found")
        keys = await self.keypairs.access_keys_of(user_id)
        if updated.status is not UserStatus.ACTIVE and target.status is UserStatus.ACTIVE:
            ended = await self.deactivation.deactivated(
                Owners(user_ids=(user_id,)), end_sessions=end_sessions, access_keys=keys
            )
            return updated, ended
        await self.deactivation.refresh(keys)
        return updated, Ended()

    async def delete(
        self, caller: Caller, user_id: str, *, now: datetime, end_sessions: bool
    ) -> tuple[User, Ended]:
        await self._changeable(caller, user_id, Verb.DELETE)
        if user_id == caller.user_id:
            raise FailedPrecondition("you cannot delete your own account")
        deleted = await self.store.update(user_id, {"status": UserStatus.DELETED})
        if deleted is None:
            raise UserNotFound(f"user {user_id} not found")
        keys = await self.keypairs.access_keys_of(user_id)
        for key in keys:
            await self.keypairs.update(key, {"is_active": False, "revoked_at": now})
        ended = await self.deactivation.deactivated(
            Owners(user_ids=(user_id,)), end_sessions=end_sessions, access_keys=keys
        )
        return deleted, ended

    async def _changeable(self, caller: Caller, user_id: str, verb: Verb) -> User:
        target = await self.get(caller, user_id, verb)
        if target.status is UserStatus.DELETED:
            raise UserDeleted(f"user {user_id} is deleted")
        if not caller.is_superadmin and target.role not in _DOMAIN_ADMIN_GRANTS:
            raise RoleNotGrantable(f"only superadmins may change a {target.role} account")
        return target


def _check_grant(caller: Caller, role: Role) -> None:
    if not caller.is_superadmin and role not in _DOMAIN_ADMIN_GRANTS:
        raise RoleNotGrantable(f"only superadmins may grant the role {role}")


def _bad(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {message}", violations=[FieldViolation(field, message)])
