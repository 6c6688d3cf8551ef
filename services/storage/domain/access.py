"""Who may see and manage which folder: the scope the access table grants, per verb.

Personal folders belong to their owner; project folders to every member of the project;
domain admins reach every folder of their domain; superadmins (and monitors, read only) all.
"""

from __future__ import annotations

import dataclasses
import uuid

from libs.core import access
from libs.core.access import Resource, Scope, Verb
from libs.core.identity import Caller
from services.storage.domain.errors import UserCallerRequired
from services.storage.domain.model import FolderFilter, VFolder


def canonical_id(text: str) -> str | None:
    """`text` as a lower-case hyphenated UUID, or None when it is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def owner_id_of(caller: Caller) -> str:
    """The caller's user id, canonical; UserCallerRequired for callers without one."""
    user_id = canonical_id(caller.user_id)
    if user_id is None:
        raise UserCallerRequired("this call needs a user caller")
    return user_id


def may(caller: Caller, verb: Verb, folder: VFolder) -> bool:
    """Whether `verb` on `folder` lies within the caller's scope."""
    scope = access.scope_of(caller, Resource.VFOLDER, verb)
    return access.in_scope(
        _canonical(caller),
        scope,
        owner_user_id=folder.owner_user_id,
        domain_name=folder.domain_name,
        project_id=folder.project_id,
    )


def list_filter(caller: Caller) -> FolderFilter:
    """The folders a caller may list: own and project folders, the domain's, or all."""
    scope = access.scope_of(caller, Resource.VFOLDER, Verb.READ)
    if caller.system or scope is Scope.ALL:
        return FolderFilter()
    if scope is Scope.DOMAIN:
        return FolderFilter(domain_name=caller.domain_name)
    return FolderFilter(owner_user_id=owner_id_of(caller), project_ids=caller.project_ids)


def _canonical(caller: Caller) -> Caller:
    user_id = canonical_id(caller.user_id)
    if user_id is None or user_id == caller.user_id:
        return caller
    return dataclasses.replace(caller, user_id=user_id)
