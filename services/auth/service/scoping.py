"""How far a caller reaches over tenancy objects (rules in libs.core.access).

Objects outside the caller's scope are reported as not found, never as forbidden.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from libs.core.access import Resource, Scope, Verb, in_scope, scope_of
from libs.core.errors import FieldViolation, PermissionDenied
from libs.core.identity import Caller
from services.auth.domain.tenancy import KeypairInfo, Project, User
from services.auth.domain.tenancy_errors import BadUpdateMask
from services.auth.service.tenancy_ports import Restriction


def scope(caller: Caller, resource: Resource, verb: Verb) -> Scope:
    """The caller's scope; PERMISSION_DENIED when the role has none for this verb."""
    found = scope_of(caller, resource, verb)
    if found is Scope.NONE:
        raise PermissionDenied(f"role {caller.role} may not {verb} {resource}")
    return found


def restriction(caller: Caller, reach: Scope, *, own_projects: bool = False) -> Restriction:
    if caller.system or reach is Scope.ALL:
        return Restriction()
    if reach is Scope.DOMAIN:
        return Restriction(domain_name=caller.domain_name)
    if own_projects:
        return Restriction(project_ids=caller.project_ids)
    return Restriction(user_id=caller.user_id)


def sees_domain(caller: Caller, reach: Scope, name: str) -> bool:
    return caller.system or reach is Scope.ALL or name == caller.domain_name


def sees_user(caller: Caller, reach: Scope, user: User) -> bool:
    return in_scope(caller, reach, owner_user_id=user.user_id, domain_name=user.domain_name)


def sees_project(caller: Caller, reach: Scope, project: Project) -> bool:
    return in_scope(caller, reach, domain_name=project.domain_name, project_id=project.project_id)


def sees_keypair(caller: Caller, reach: Scope, keypair: KeypairInfo) -> bool:
    return in_scope(caller, reach, owner_user_id=keypair.user_id, domain_name=keypair.domain_name)


def check_mask(changes: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Refuse an empty mask and fields that cannot be changed, naming them."""
    if not changes:
        raise BadUpdateMask(
            "update_mask names no field",
            violations=[FieldViolation("update_mask", "name at least one field")],
        )
    bad = sorted(set(changes) - set(allowed))
    if bad:
        raise BadUpdateMask(
            f"update_mask names fields that cannot be changed: {', '.join(bad)}",
            violations=[FieldViolation("update_mask", f"{b} cannot be changed") for b in bad],
        )
