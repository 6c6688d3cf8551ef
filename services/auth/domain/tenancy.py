"""The tenancy model: domains, projects, users, keypairs, resource policies, access lists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from libs.core.identity import Role
from libs.core.slots import ResourceSlots
from services.auth.domain.model import UserStatus

DEFAULT_POLICY = "default"
DEFAULT_RATE_LIMIT = 10_000  # requests per edge window, as Backend.AI's admin-created keypairs
OWNER_DEACTIVATED = "owner-deactivated"  # status_info of sessions ended with their owner
MIN_PASSWORD_LENGTH = 8
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}")
EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}")


class DefaultForUnspecified(StrEnum):
    LIMITED = "limited"
    UNLIMITED = "unlimited"


@dataclass(frozen=True, slots=True, kw_only=True)
class Domain:
    name: str
    description: str = ""
    is_active: bool = True
    total_resource_slots: ResourceSlots = field(default_factory=ResourceSlots)
    allowed_vfolder_hosts: tuple[str, ...] = ()
    allowed_docker_registries: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    project_id: str
    domain_name: str
    name: str
    description: str = ""
    is_active: bool = True
    total_resource_slots: ResourceSlots = field(default_factory=ResourceSlots)
    allowed_vfolder_hosts: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectMember:
    project_id: str
    user_id: str
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    user_id: str
    email: str
    domain_name: str
    username: str = ""
    full_name: str = ""
    description: str = ""
    role: Role = Role.USER
    status: UserStatus = UserStatus.ACTIVE
    need_password_change: bool = False
    project_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeypairInfo:
    """A keypair as admins see it: never its secret."""

    access_key: str
    user_id: str
    is_active: bool = True
    is_admin: bool = False
    resource_policy: str = DEFAULT_POLICY
    rate_limit: int = DEFAULT_RATE_LIMIT
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    updated_at: datetime | None = None
    revoked_at: datetime | None = None
    domain_name: str = ""  # the owner's domain, for scoping


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourcePolicy:
    """Zero means unlimited for every count, size and duration."""

    name: str
    default_for_unspecified: DefaultForUnspecified = DefaultForUnspecified.UNLIMITED
    total_resource_slots: ResourceSlots = field(default_factory=ResourceSlots)
    max_concurrent_sessions: int = 0
    max_containers_per_session: int = 0
    max_session_lifetime: timedelta = timedelta(0)
    idle_timeout: timedelta = timedelta(0)
    max_pending_sessions: int = 0
    max_vfolder_count: int = 0
    max_vfolder_size: int = 0
    allowed_vfolder_hosts: tuple[str, ...] = ()
    # The highest session priority allowed; unlike the limits above, 0 allows only priority 0.
    max_session_priority: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceGroupAccess:
    resource_group: str
    domain_names: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    access_keys: tuple[str, ...] = ()

    def allows(self, *, domain_name: str, project_id: str, access_key: str) -> bool:
        return (
            domain_name in self.domain_names
            or project_id in self.project_ids
            or (bool(access_key) and access_key in self.access_keys)
        )


T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRequest:
    """`size` is already clamped; `after` is the last key of the previous page ("" = start)."""

    size: int = 100
    after: str = ""
