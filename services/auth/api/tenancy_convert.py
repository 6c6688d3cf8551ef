"""Protobuf ⇄ tenancy types, and update masks → changes (domain field name → value)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from shipyard.auth.v1 import domain_service_pb2 as dpb
from shipyard.auth.v1 import project_service_pb2 as ppb
from shipyard.auth.v1 import user_service_pb2 as upb
from shipyard.type.v1 import resources_pb2

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Role
from libs.core.slots import ResourceSlots
from services.auth.api.identity import _ROLES
from services.auth.domain.model import UserStatus
from services.auth.domain.tenancy import (
    EMAIL_RE,
    NAME_RE,
    Domain,
    Project,
    ProjectMember,
    User,
)

ROLE_OF: dict[int, Role] = {int(v): k for k, v in _ROLES.items()}
_STATUS_PB = {
    UserStatus.ACTIVE: upb.USER_STATUS_ACTIVE,
    UserStatus.INACTIVE: upb.USER_STATUS_INACTIVE,
    UserStatus.DELETED: upb.USER_STATUS_DELETED,
}
STATUS_OF: dict[int, UserStatus] = {int(v): k for k, v in _STATUS_PB.items()}


def bad(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {message}", violations=[FieldViolation(field, message)])


def ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def from_ts(value: timestamp_pb2.Timestamp, present: bool) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if present else None


def slots_pb(slots: ResourceSlots) -> resources_pb2.ResourceSlots:
    return resources_pb2.ResourceSlots(amounts=slots.to_strings())


def slots_of(pb: resources_pb2.ResourceSlots, field: str) -> ResourceSlots:
    return ResourceSlots.parse(dict(pb.amounts), field=field)


def duration_of(pb: duration_pb2.Duration) -> timedelta:
    return pb.ToTimedelta()


def duration_pb(value: timedelta) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(value)
    return out


def name_of(text: str, field: str) -> str:
    if not NAME_RE.fullmatch(text):
        raise bad(field, "must be 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
    return text


def changes_from_mask(
    mask: field_mask_pb2.FieldMask, readers: Mapping[str, Callable[[], Any]], prefix: str
) -> dict[str, Any]:
    """Read exactly the fields the mask names; unknown paths are refused by name."""
    changes: dict[str, Any] = {}
    for path in mask.paths:
        reader = readers.get(path)
        if reader is None:
            raise bad("update_mask", f"{path!r} is not a field of {prefix} that can be changed")
        changes[path] = reader()
    return changes


# --- domains -----------------------------------------------------------------------------


def domain_pb(d: Domain) -> dpb.Domain:
    return dpb.Domain(
        name=d.name,
        description=d.description,
        is_active=d.is_active,
        total_resource_slots=slots_pb(d.total_resource_slots),
        allowed_vfolder_hosts=list(d.allowed_vfolder_hosts),
        allowed_docker_registries=list(d.allowed_docker_registries),
        create_time=ts(d.created_at),
        update_time=ts(d.updated_at),
        delete_time=ts(d.deleted_at),
    )


def domain_of(pb: dpb.Domain) -> Domain:
    """A new domain: always active (deactivate it with UpdateDomain)."""
    return Domain(
        name=name_of(pb.name, "domain.name"),
        description=pb.description,
        is_active=True,
        total_resource_slots=slots_of(pb.total_resource_slots, "domain.total_resource_slots"),
        allowed_vfolder_hosts=tuple(pb.allowed_vfolder_hosts),
        allowed_docker_registries=tuple(pb.allowed_docker_registries),
    )


def domain_changes(pb: dpb.Domain, mask: field_mask_pb2.FieldMask) -> dict[str, Any]:
    return changes_from_mask(
        mask,
        {
            "description": lambda: pb.description,
            "is_active": lambda: pb.is_active,
            "total_resource_slots": lambda: slots_of(
                pb.total_resource_slots, "domain.total_resource_slots"
            ),
            "allowed_vfolder_hosts": lambda: tuple(pb.allowed_vfolder_hosts),
            "allowed_docker_registries": lambda: tuple(pb.allowed_docker_registries),
        },
        "domain",
    )


# --- projects ----------------------------------------------------------------------------


def project_pb(p: Project) -> ppb.Project:
    return ppb.Project(
        project_id=p.project_id,
        domain_name=p.domain_name,
        name=p.name,
        description=p.description,
        is_active=p.is_active,
        total_resource_slots=slots_pb(p.total_resource_slots),
        allowed_vfolder_hosts=list(p.allowed_vfolder_hosts),
        create_time=ts(p.created_at),
        update_time=ts(p.updated_at),
        delete_time=ts(p.deleted_at),
    )


def project_of(pb: ppb.Project) -> Project:
    """A new project: always active (deactivate it with UpdateProject)."""
    return Project(
        project_id="",
        domain_name=name_of(pb.domain_name, "project.domain_name"),
        name=name_of(pb.name, "project.name"),
        description=pb.description,
        is_active=True,
        total_resource_slots=slots_of(pb.total_resource_slots, "project.total_resource_slots"),
        allowed_vfolder_hosts=tuple(pb.allowed_vfolder_hosts),
    )


def project_changes(pb: ppb.Project, mask: field_mask_pb2.FieldMask) -> dict[str, Any]:
    return changes_from_mask(
        mask,
        {
            "name": lambda: name_of(pb.name, "project.name"),
            "description": lambda: pb.description,
            "is_active": lambda: pb.is_active,
            "total_resource_slots": lambda: slots_of(
                pb.total_resource_slots, "project.total_resource_slots"
            ),
            "allowed_vfolder_hosts": lambda: tuple(pb.allowed_vfolder_hosts),
        },
        "project",
    )


def member_pb(m: ProjectMember) -> ppb.ProjectMember:
    return ppb.ProjectMember(project_id=m.project_id, user_id=m.user_id, email=m.email)


# --- users -------------------------------------------------------------------------------


def user_pb(u: User) -> upb.User:
    return upb.User(
        user_id=u.user_id,
        email=u.email,
        username=u.username,
        full_name=u.full_name,
        description=u.description,
        role=_ROLES[u.role],
        status=_STATUS_PB[u.status],
        domain_name=u.domain_name,
        need_password_change=u.need_password_change,
        project_ids=list(u.project_ids),
        create_time=ts(u.created_at),
        update_time=ts(u.updated_at),
    )


def email_of(text: str, field: str) -> str:
    if not EMAIL_RE.fullmatch(text):
        raise bad(field, "must be an e-mail address")
    return text.lower()


def role_of(value: int) -> Role:
    return ROLE_OF.get(value, Role.USER)


def user_of(pb: upb.User) -> User:
    return User(
        user_id="",
        email=email_of(pb.email, "user.email"),
        domain_name=name_of(pb.domain_name, "user.domain_name"),
        username=pb.username,
        full_name=pb.full_name,
        description=pb.description,
        role=role_of(pb.role),
        status=STATUS_OF.get(pb.status, UserStatus.ACTIVE),
        need_password_change=pb.need_password_change,
    )


def user_changes(req: upb.UpdateUserRequest) -> dict[str, Any]:
    pb = req.user

    def status() -> UserStatus:
        if pb.status not in STATUS_OF:
            raise bad("user.status", "must be set when update_mask names it")
        return STATUS_OF[pb.status]

    def password() -> str:
        if len(req.password) < 8:
            raise bad("password", "must be at least 8 characters")
        return req.password

    def role() -> Role:
        if pb.role not in ROLE_OF:
            raise bad("user.role", "must be set when update_mask names it")
        return role_of(pb.role)

    return changes_from_mask(
        req.update_mask,
        {
            "email": lambda: email_of(pb.email, "user.email"),
            "username": lambda: pb.username,
            "full_name": lambda: pb.full_name,
            "description": lambda: pb.description,
            "role": role,
            "status": status,
            "need_password_change": lambda: pb.need_password_change,
            "password": password,
        },
        "user",
    )


# --- keypairs ----------------------------------------------------------------------------


def mask_paths(
    mask: field_mask_pb2.FieldMask, allowed: Sequence[str], prefix: str
) -> tuple[str, ...]:
    for path in mask.paths:
        if path not in allowed:
            raise bad("update_mask", f"{path!r} is not a field of {prefix} that can be changed")
    return tuple(mask.paths)
