"""Who may do what, written once as data (role x verb x resource).

Each gRPC method acts on a resource with a verb (its `Rule`, listed in `rpc_access.METHODS`).
`GRANTS` says, per role, how far each verb reaches on each resource (its scope). The server
interceptor refuses a call whose caller has no grant (PERMISSION_DENIED) and every method missing
from `METHODS`, so a new RPC without a rule cannot be reached. Use cases then narrow by scope
with `scope_of`: OWN (the caller's own objects and their projects' objects), DOMAIN (everything in
the caller's domain), ALL. Objects outside the caller's scope are reported as not found (no
existence leak). The rules are documented in `docs/access.md`; the isolation matrix test walks
these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from libs.core.identity import Caller, Role


class Verb(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXECUTE = "execute"


class Resource(StrEnum):
    IDENTITY = "identity"  # the caller's own identity (and login tokens)
    SESSION = "session"
    VFOLDER = "vfolder"
    AGENT = "agent"
    SCHEDULER_QUEUE = "scheduler-queue"
    # tenancy (auth's admin APIs)
    DOMAIN = "domain"
    PROJECT = "project"
    USER = "user"
    KEYPAIR = "keypair"
    RESOURCE_POLICY = "resource-policy"
    RESOURCE_GROUP_ACCESS = "resource-group-access"
    AUDIT_LOG = "audit-log"
    IMAGE = "image"
    CONTAINER_REGISTRY = "container-registry"
    RESOURCE_GROUP = "resource-group"
    EDGE_ROUTE = "edge-route"  # routes added to the edge at run time (system only)
    DEAD_LETTER = "dead-letter"  # events the consumers gave up on: superadmins only
    QUOTA_SCOPE = "quota-scope"  # storage limits per user/project and volume (superadmins)
    USAGE = "usage"  # what sessions used (accounting reports)
    SESSION_TEMPLATE = "session-template"  # a user's or a project's saved session description
    RESOURCE_PRESET = "resource-preset"  # named slot sets: superadmins write, everyone reads


class Scope(IntEnum):
    """How far a grant reaches; larger includes smaller."""

    NONE = 0
    OWN = 1
    DOMAIN = 2
    ALL = 3


@dataclass(frozen=True, slots=True)
class Rule:
    resource: Resource
    verb: Verb
    public: bool = False  # reachable without credentials (e.g. login)
    system: bool = False  # internal: only other Shipyard services


_ALL_VERBS = tuple(Verb)
_WORK = dict.fromkeys(_ALL_VERBS, Scope.OWN)  # a user's own work: sessions, folders
_READ_ALL = {Verb.READ: Scope.ALL}

GRANTS: dict[Role, dict[Resource, dict[Verb, Scope]]] = {
    Role.USER: {
        Resource.IDENTITY: {Verb.READ: Scope.OWN, Verb.UPDATE: Scope.OWN},
        Resource.SESSION: dict(_WORK),
        Resource.VFOLDER: dict(_WORK),
        Resource.SCHEDULER_QUEUE: {Verb.READ: Scope.OWN},
        # Their own account, keypairs, domain and the projects they belong to.
        Resource.DOMAIN: {Verb.READ: Scope.OWN},
        Resource.PROJECT: {Verb.READ: Scope.OWN},
        Resource.USER: {Verb.READ: Scope.OWN},
        Resource.KEYPAIR: {Verb.READ: Scope.OWN},
        # Users pick images and resource groups when they create sessions.
        Resource.IMAGE: {Verb.READ: Scope.ALL},
        Resource.RESOURCE_GROUP: {Verb.READ: Scope.OWN},
        Resource.USAGE: {Verb.READ: Scope.OWN},
        # Their own templates and their projects' (the use case narrows writes to the owner).
        Resource.SESSION_TEMPLATE: dict(_WORK),
        Resource.RESOURCE_PRESET: {Verb.READ: Scope.ALL},
    },
    # Domain admins manage everything inside their domain and nothing outside it.
    Role.ADMIN: {
        Resource.IDENTITY: {Verb.READ: Scope.OWN, Verb.UPDATE: Scope.OWN},
        Resource.SESSION: dict.fromkeys(_ALL_VERBS, Scope.DOMAIN),
        Resource.VFOLDER: dict.fromkeys(_ALL_VERBS, Scope.DOMAIN),
        Resource.AGENT: {Verb.READ: Scope.ALL},
        Resource.SCHEDULER_QUEUE: {Verb.READ: Scope.DOMAIN},
        Resource.DOMAIN: {Verb.READ: Scope.DOMAIN},
        Resource.PROJECT: dict.fromkeys(_ALL_VERBS, Scope.DOMAIN),
        Resource.USER: dict.fromkeys(_ALL_VERBS, Scope.DOMAIN),
        Resource.KEYPAIR: dict.fromkeys(_ALL_VERBS, Scope.DOMAIN),
        # Policies are global objects: domain admins read them, only superadmins change them.
        Resource.RESOURCE_POLICY: {Verb.READ: Scope.ALL},
        Resource.RESOURCE_GROUP_ACCESS: {Verb.READ: Scope.DOMAIN},
        Resource.AUDIT_LOG: {Verb.READ: Scope.DOMAIN},
        # Images, registries and groups are global: domain admins read them; superadmins
        # write, except that admins may update a group (description, active flag).
        Resource.IMAGE: {Verb.READ: Scope.ALL},
        Resource.CONTAINER_REGISTRY: {Verb.READ: Scope.ALL},
        Resource.RESOURCE_GROUP: {Verb.READ: Scope.ALL, Verb.UPDATE: Scope.ALL},
        Resource.USAGE: {Verb.READ: Scope.DOMAIN},
        Resource.SESSION_TEMPLATE: dict.fromkeys(_ALL_VERBS, Scope.DOMAIN),
        Resource.RESOURCE_PRESET: {Verb.READ: Scope.ALL},
    },
    Role.SUPERADMIN: {r: dict.fromkeys(_ALL_VERBS, Scope.ALL) for r in Resource},
    # Monitors read everything and change nothing; dead letters carry raw event payloads and
    # stay with superadmins.
    Role.MONITOR: {
        **{r: dict(_READ_ALL) for r in Resource if r is not Resource.DEAD_LETTER},
        Resource.IDENTITY: {Verb.READ: Scope.OWN, Verb.UPDATE: Scope.OWN},
    },
}


def scope_of(caller: Caller, resource: Resource, verb: Verb) -> Scope:
    """How far `caller` may apply `verb` to `resource` (ALL for other Shipyard services)."""
    if caller.system:
        return Scope.ALL
    return GRANTS.get(caller.role, {}).get(resource, {}).get(verb, Scope.NONE)


def allows(caller: Caller, rule: Rule) -> bool:
    """Whether the caller may make a call under `rule` at all (objects are narrowed later)."""
    if rule.system:
        return caller.system
    return scope_of(caller, rule.resource, rule.verb) is not Scope.NONE


def in_scope(
    caller: Caller,
    scope: Scope,
    *,
    owner_user_id: str = "",
    owner_access_key: str = "",
    domain_name: str = "",
    project_id: str = "",
) -> bool:
    """Whether an object with these owners lies within `scope` for `caller`.

    Pass `project_id` only for objects the project owns (project folders), never for personal
    objects that are merely billed to a project (sessions).
    """
    if caller.system or scope is Scope.ALL:
        return True
    if scope is Scope.DOMAIN:
        return bool(domain_name) and domain_name == caller.domain_name
    if scope is Scope.OWN:
        if owner_user_id and owner_user_id == caller.user_id:
            return True
        if owner_access_key and owner_access_key == caller.access_key:
            return True
        return bool(project_id) and project_id in caller.project_ids
    return False
