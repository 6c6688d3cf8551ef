"""Who has which permission on a folder once folders are shared.

- Its owner, and admins whose scope covers it, have every right (`wd`).
- Members of a project folder's project have the folder's permission, or the one a share gave
  them (it overrides the folder's).
- Users a personal folder was shared with (an accepted invitation) have what they were given.
- Nobody else sees the folder at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from libs.core import access
from libs.core.access import Resource, Scope, Verb
from libs.core.identity import Caller
from services.storage.domain.access import canonical_id, may
from services.storage.domain.model import MountPermission, VFolder

_RANK = {
    MountPermission.READ_ONLY: 1,
    MountPermission.READ_WRITE: 2,
    MountPermission.READ_WRITE_DELETE: 3,
}


def at_least(have: MountPermission | None, need: MountPermission) -> bool:
    return have is not None and _RANK[have] >= _RANK[need]


def effective_permission(
    caller: Caller, folder: VFolder, grant: MountPermission | None
) -> MountPermission | None:
    """What `caller` may do with `folder`, given the permission row they hold on it (if any);
    None when the folder is invisible to them."""
    if caller.system or canonical_id(caller.user_id) == folder.owner_user_id:
        return MountPermission.READ_WRITE_DELETE
    if may(caller, Verb.READ, folder):
        scope = access.scope_of(caller, Resource.VFOLDER, Verb.UPDATE)
        if scope >= Scope.DOMAIN:  # an admin over the folder's domain (or all)
            return MountPermission.READ_WRITE_DELETE
        if folder.project_id and folder.project_id in caller.project_ids:
            return grant or folder.permission
        if scope is Scope.NONE:  # read-only roles (monitors) read what they may see
            return MountPermission.READ_ONLY
    return grant if not folder.project_id else None


def manages(caller: Caller, folder: VFolder, grant: MountPermission | None) -> bool:
    """Whether the caller may rename, reconfigure and share the folder: its owner, or an admin
    over it (not a user it was merely shared with, even with `wd`)."""
    if canonical_id(caller.user_id) == folder.owner_user_id or caller.system:
        return True
    permission = effective_permission(caller, folder, grant)
    return caller.is_admin and permission is MountPermission.READ_WRITE_DELETE and grant is None


def mounts_read_only(folder: VFolder, permission: MountPermission) -> bool:
    """A folder created read-only stays read-only in kernels, whoever mounts it."""
    return MountPermission.READ_ONLY in (folder.permission, permission)


class InvitationState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    id: str
    vfolder_id: str
    vfolder_name: str
    inviter_user_id: str
    inviter_email: str
    invitee_user_id: str
    invitee_email: str
    permission: MountPermission
    state: InvitationState
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRef:
    """A user found by e-mail (from auth)."""

    user_id: str
    email: str
    domain_name: str
    active: bool
    project_ids: tuple[str, ...]
