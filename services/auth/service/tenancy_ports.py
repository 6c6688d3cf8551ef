"""Ports of the tenancy use cases: stores per entity, password hashing, revocation, sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.auth.domain.audit import AuditEvent, AuditFilter
from services.auth.domain.tenancy import (
    Domain,
    KeypairInfo,
    Page,
    PageRequest,
    Project,
    ProjectMember,
    ResourceGroupAccess,
    ResourcePolicy,
    User,
)

Changes = Mapping[str, Any]
"""Field name → new value, for the fields an update mask names."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Restriction:
    """What a caller's scope narrows a list to (unset = no narrowing)."""

    domain_name: str | None = None
    user_id: str | None = None
    project_ids: tuple[str, ...] | None = None


class DomainStore(Protocol):
    async def create(self, domain: Domain) -> Domain: ...
    async def get(self, name: str) -> Domain | None: ...
    async def list(
        self, page: PageRequest, *, is_active: bool | None, show_deleted: bool, only: str | None
    ) -> Page[Domain]: ...
    async def update(self, name: str, changes: Changes) -> Domain | None: ...


class ProjectStore(Protocol):
    async def create(self, project: Project) -> Project: ...
    async def get(self, project_id: str) -> Project | None: ...
    async def list(
        self,
        page: PageRequest,
        restriction: Restriction,
        *,
        name_contains: str,
        member_user_id: str,
        is_active: bool | None,
        show_deleted: bool,
    ) -> Page[Project]: ...
    async def update(self, project_id: str, changes: Changes) -> Project | None: ...
    async def add_member(self, project_id: str, user_id: str) -> None: ...
    async def remove_member(self, project_id: str, user_id: str) -> bool: ...
    async def members(self, project_id: str, page: PageRequest) -> Page[ProjectMember]: ...


class UserStore(Protocol):
    async def create(
        self, user: User, password_hash: str | None, project_ids: Sequence[str]
    ) -> User: ...
    async def get(self, user_id: str) -> User | None: ...
    async def list(
        self,
        page: PageRequest,
        restriction: Restriction,
        *,
        role: str,
        status: str,
        email_contains: str,
        project_id: str,
        show_deleted: bool,
    ) -> Page[User]: ...
    async def update(self, user_id: str, changes: Changes) -> User | None: ...
    async def password_hash(self, email: str) -> tuple[User, str | None] | None: ...


class KeypairAdminStore(Protocol):
    async def create(self, keypair: KeypairInfo, secret_key: str) -> KeypairInfo: ...
    async def get(self, access_key: str) -> KeypairInfo | None: ...
    async def list(
        self,
        page: PageRequest,
        restriction: Restriction,
        *,
        is_active: bool | None,
        resource_policy: str,
        show_revoked: bool,
    ) -> Page[KeypairInfo]: ...
    async def update(self, access_key: str, changes: Changes) -> KeypairInfo | None: ...
    async def access_keys_of(self, user_id: str) -> tuple[str, ...]: ...
    async def main_keypair(self, user_id: str) -> KeypairInfo | None: ...


class PolicyStore(Protocol):
    async def create(self, policy: ResourcePolicy) -> ResourcePolicy: ...
    async def get(self, name: str) -> ResourcePolicy | None: ...
    async def get_many(self, names: Sequence[str]) -> dict[str, ResourcePolicy]: ...
    async def list(self, page: PageRequest, *, name_contains: str) -> Page[ResourcePolicy]: ...
    async def update(self, name: str, changes: Changes) -> ResourcePolicy | None: ...
    async def delete(self, name: str) -> bool:
        """False when absent; PolicyInUse when keypairs still use it."""
        ...


class AccessStore(Protocol):
    async def get(self, resource_group: str) -> ResourceGroupAccess: ...
    async def list(
        self, page: PageRequest, *, domain_name: str, project_id: str, access_key: str
    ) -> Page[ResourceGroupAccess]: ...
    async def replace(self, access: ResourceGroupAccess, fields: Sequence[str]) -> None: ...
    async def allowed_groups(
        self, *, domain_name: str, project_id: str, access_key: str
    ) -> tuple[str, ...]: ...


class AuditStore(Protocol):
    async def append(self, event: AuditEvent) -> AuditEvent: ...
    async def list(
        self, page: PageRequest, flt: AuditFilter, *, domain_name: str | None
    ) -> Page[AuditEvent]: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, stored_hash: str | None, password: str) -> bool: ...


class Revocations(Protocol):
    """Tells every auth replica to drop cached keypairs (all of them for `everything`)."""

    async def revoke(
        self, access_keys: Sequence[str] = (), *, everything: bool = False
    ) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Owners:
    user_ids: tuple[str, ...] = ()
    access_keys: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    domain_names: tuple[str, ...] = ()


class SessionTerminator(Protocol):
    """Ends the live sessions of owners (the registry); returns how many were told to end."""

    async def terminate(self, owners: Owners, reason: str) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyFacts:
    """What ResolveSessionPolicy decides from, read at one moment. The keypair is the one named,
    or the user's main keypair when none is; each group tuple is what that tenant opens."""

    user: User
    keypair: KeypairInfo | None
    domain: Domain | None
    project: Project | None
    policy: ResourcePolicy | None
    domain_groups: tuple[str, ...]
    project_groups: tuple[str, ...]
    keypair_groups: tuple[str, ...]


class PolicyFactsStore(Protocol):
    async def read(
        self, *, user_id: str, access_key: str, domain_name: str, project_id: str
    ) -> PolicyFacts | None:
        """None when the user does not exist."""
        ...
