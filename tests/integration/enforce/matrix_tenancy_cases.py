"""Object cases for auth's tenancy admin APIs and password login.

Tenancy objects of domain A (its projects, users, keypairs) are managed by admins of A and by
superadmins; global objects (domains, resource policies, group allow-lists) are changed by
superadmins only. Login, refresh and logout carry their own credential and answer everyone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from libs.core.identity import Caller
from tests.integration.enforce import matrix as m
from tests.integration.enforce.matrix_kit import GROUP, Case, Platform, Prepare, req

AUTH = "/shipyard.auth.v1"
PASSWORD = "correct horse battery"  # what matrix.new_member gives every account

# Everyone (authenticated or not) gets an answer: the request carries its own credential.
ANYONE = dict.fromkeys(m.ROLES, m.OK)
# Domain A itself: every member of A sees it; admins of B do not.
DOMAIN_A = {**m.READ_OBJECT, "user-A2": m.OK}
DOMAIN_A_LISTED = {**m.LIST, "user-A2": m.OK}
# Admins read their own domain's audit trail; monitors and superadmins everyone's.
AUDIT_LISTED = {**m.ADMIN_READ, "admin-B": m.HIDDEN}


def _root(p: Platform) -> Caller:
    root = p.tenancy.callers["superadmin"]
    assert root is not None
    return root


async def _as_root(p: Platform, method: str, **fields: Any) -> Any:
    return await p.call(f"{AUTH}.{method}", req(f"{AUTH}.{method}", **fields), _root(p))


async def _member_of_a1(p: Platform) -> Caller:
    return await m.new_member(
        p.channels["auth"],
        p.token,
        _root(p),
        domain=p.tenancy.domain_a,
        project_id=p.tenancy.project_a1,
    )


def _tag(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def _domain(method: str, listed: bool = False, fresh: bool = False, **fields: Any) -> Prepare:
    async def prepare(p: Platform) -> tuple[Any, str]:
        name = p.tenancy.domain_a
        if fresh:
            name = _tag("dom-x")
            await _as_root(p, "DomainService/CreateDomain", domain={"name": name})
        if listed:
            return req(f"{AUTH}.{method}", page_size=1000), name
        if method.endswith("UpdateDomain"):
            fields["domain"] = {"name": name, "description": "changed"}
            fields["update_mask"] = {"paths": ["description"]}
            return req(f"{AUTH}.{method}", **fields), ""
        return req(f"{AUTH}.{method}", name=name, **fields), ""

    return prepare


def _create_in_a(kind: str) -> Prepare:
    async def prepare(p: Platform) -> tuple[Any, str]:
        domain, project = p.tenancy.domain_a, p.tenancy.project_a1
        if kind == "project":
            body = {"domain_name": domain, "name": _tag("new")}
            return req(f"{AUTH}.ProjectService/CreateProject", project=body), ""
        user = {"email": f"{_tag('new')}@example.com", "domain_name": domain, "role": 1}
        return req(
            f"{AUTH}.UserService/CreateUser",
            user=user,
            password=PASSWORD,
            project_ids=[project],
        ), ""

    return prepare


def _update_in_a(kind: str) -> Prepare:
    """Changes of domain A's tenancy: project A1, a fresh user of A1, a keypair of theirs."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        mask = {"paths": ["description"]}
        if kind == "project":
            body = {"project_id": p.tenancy.project_a1, "description": _tag("d")}
            return req(f"{AUTH}.ProjectService/UpdateProject", project=body, update_mask=mask), ""
        member = await _member_of_a1(p)
        if kind == "user":
            body = {"user_id": member.user_id, "full_name": "Renamed"}
            mask = {"paths": ["full_name"]}
            return req(f"{AUTH}.UserService/UpdateUser", user=body, update_mask=mask), ""
        if kind == "keypair":
            body = {"access_key": member.access_key, "user_id": member.user_id, "rate_limit": 7}
            mask = {"paths": ["rate_limit"]}
            return req(f"{AUTH}.KeypairService/UpdateKeypair", keypair=body, update_mask=mask), ""
        if kind == "delete-keypair":
            return req(
                f"{AUTH}.KeypairService/DeleteKeypair",
                user_id=member.user_id,
                access_key=member.access_key,
            ), ""
        if kind == "create-keypair":
            return req(f"{AUTH}.KeypairService/CreateKeypair", user_id=member.user_id), ""
        if kind == "add-member":
            return req(
                f"{AUTH}.ProjectService/AddProjectMember",
                project_id=p.tenancy.project_a2,
                user_id=member.user_id,
            ), ""
        return req(
            f"{AUTH}.ProjectService/RemoveProjectMember",
            project_id=p.tenancy.project_a1,
            user_id=member.user_id,
        ), ""

    return prepare


async def _list_keypairs(p: Platform) -> tuple[Any, str]:
    listing = req(f"{AUTH}.KeypairService/ListKeypairs", user_id="-", page_size=1000)
    return listing, p.tenancy.owner.access_key


async def _new_domain(p: Platform) -> tuple[Any, str]:
    return req(f"{AUTH}.DomainService/CreateDomain", domain={"name": _tag("dom-n")}), ""


async def _login_request(p: Platform) -> tuple[Any, str]:
    full = f"{AUTH}.AuthenticationService/Login"
    return req(full, email=p.tenancy.owner.email, password=PASSWORD), ""


def _policy(method: str) -> Prepare:
    async def prepare(p: Platform) -> tuple[Any, str]:
        name = _tag("pol")
        full = f"{AUTH}.ResourcePolicyService/{method}"
        if method == "CreateResourcePolicy":
            return req(full, resource_policy={"name": name}), ""
        body = {"name": name}
        await _as_root(p, "ResourcePolicyService/CreateResourcePolicy", resource_policy=body)
        if method == "ListResourcePolicies":
            return req(full, page_size=1000), name
        if method == "UpdateResourcePolicy":
            body = {"name": name, "max_pending_sessions": 3}
            mask = {"paths": ["max_pending_sessions"]}
            return req(full, resource_policy=body, update_mask=mask), ""
        return req(full, name=name), ""

    return prepare


def _group_access(method: str) -> Prepare:
    async def prepare(p: Platform) -> tuple[Any, str]:
        full = f"{AUTH}.ResourceGroupAccessService/{method}"
        if method == "ListResourceGroupAccess":
            return req(full, page_size=1000), GROUP
        if method == "UpdateResourceGroupAccess":
            body = {"resource_group": _tag("rg"), "domain_names": [p.tenancy.domain_a]}
            return req(full, access=body, update_mask={"paths": ["domain_names"]}), ""
        return req(full, resource_group=GROUP), ""

    return prepare


async def _login(p: Platform) -> str:
    owner = p.tenancy.owner
    method = f"{AUTH}.AuthenticationService/Login"
    reply = await p.call(method, req(method, email=owner.email, password=PASSWORD), None)
    return str(reply.tokens.refresh_token)


def _with_refresh(method: str) -> Prepare:
    async def prepare(p: Platform) -> tuple[Any, str]:
        full = f"{AUTH}.AuthenticationService/{method}"
        return req(full, refresh_token=await _login(p)), ""

    return prepare


def _change_password() -> Prepare:
    """Every matrix account gets PASSWORD back first; the caller then changes their own."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        for caller in p.tenancy.callers.values():
            if caller is not None:
                await _as_root(
                    p,
                    "UserService/UpdateUser",
                    user={"user_id": caller.user_id},
                    password=PASSWORD,
                    update_mask={"paths": ["password"]},
                )
        full = f"{AUTH}.AuthenticationService/ChangePassword"
        return req(full, current_password=PASSWORD, new_password=_tag("another-secret")), ""

    return prepare


async def _audited_in_a(p: Platform) -> tuple[Any, str]:
    """An admin of A creates a project there; the listing filtered on it must show the event."""
    created = await p.call(
        f"{AUTH}.ProjectService/CreateProject",
        req(
            f"{AUTH}.ProjectService/CreateProject",
            project={"domain_name": p.tenancy.domain_a, "name": _tag("audited")},
        ),
        p.tenancy.callers["admin-A"],
    )
    target = str(created.project.project_id)
    return req(f"{AUTH}.AuditService/ListAuditEvents", target_id=target, page_size=100), target


def _listed(attr: str, key: str) -> Callable[[Any], set[str]]:
    return lambda r: {str(getattr(o, key)) for o in getattr(r, attr)}


CASES: dict[str, Case] = {
    f"{AUTH}.DomainService/CreateDomain": Case(m.SUPER_ONLY, _new_domain),
    f"{AUTH}.DomainService/GetDomain": Case(DOMAIN_A, _domain("DomainService/GetDomain")),
    f"{AUTH}.DomainService/ListDomains": Case(
        DOMAIN_A_LISTED,
        _domain("DomainService/ListDomains", listed=True),
        listed=_listed("domains", "name"),
    ),
    f"{AUTH}.DomainService/UpdateDomain": Case(
        m.SUPER_ONLY, _domain("DomainService/UpdateDomain", fresh=True)
    ),
    f"{AUTH}.DomainService/DeleteDomain": Case(
        m.SUPER_ONLY, _domain("DomainService/DeleteDomain", fresh=True)
    ),
    f"{AUTH}.ProjectService/CreateProject": Case(m.MANAGE_IN_A, _create_in_a("project")),
    f"{AUTH}.ProjectService/UpdateProject": Case(m.MANAGE_IN_A, _update_in_a("project")),
    f"{AUTH}.ProjectService/AddProjectMember": Case(m.MANAGE_IN_A, _update_in_a("add-member")),
    f"{AUTH}.ProjectService/RemoveProjectMember": Case(
        m.MANAGE_IN_A, _update_in_a("remove-member")
    ),
    f"{AUTH}.UserService/CreateUser": Case(m.MANAGE_IN_A, _create_in_a("user")),
    f"{AUTH}.UserService/UpdateUser": Case(m.MANAGE_IN_A, _update_in_a("user")),
    f"{AUTH}.KeypairService/CreateKeypair": Case(m.MANAGE_IN_A, _update_in_a("create-keypair")),
    f"{AUTH}.KeypairService/UpdateKeypair": Case(m.MANAGE_IN_A, _update_in_a("keypair")),
    f"{AUTH}.KeypairService/DeleteKeypair": Case(m.MANAGE_IN_A, _update_in_a("delete-keypair")),
    f"{AUTH}.KeypairService/ListKeypairs": Case(
        m.LIST, _list_keypairs, listed=_listed("keypairs", "access_key")
    ),
    **{
        f"{AUTH}.ResourcePolicyService/{name}": Case(m.SUPER_ONLY, _policy(name))
        for name in ("CreateResourcePolicy", "UpdateResourcePolicy", "DeleteResourcePolicy")
    },
    f"{AUTH}.ResourcePolicyService/GetResourcePolicy": Case(
        m.ADMIN_READ, _policy("GetResourcePolicy")
    ),
    f"{AUTH}.ResourcePolicyService/ListResourcePolicies": Case(
        m.ADMIN_READ, _policy("ListResourcePolicies"), listed=_listed("resource_policies", "name")
    ),
    f"{AUTH}.ResourceGroupAccessService/GetResourceGroupAccess": Case(
        m.ADMIN_READ, _group_access("GetResourceGroupAccess")
    ),
    f"{AUTH}.ResourceGroupAccessService/ListResourceGroupAccess": Case(
        m.ADMIN_READ,
        _group_access("ListResourceGroupAccess"),
        listed=_listed("accesses", "resource_group"),
    ),
    f"{AUTH}.ResourceGroupAccessService/UpdateResourceGroupAccess": Case(
        m.SUPER_ONLY, _group_access("UpdateResourceGroupAccess")
    ),
    f"{AUTH}.AuditService/ListAuditEvents": Case(
        AUDIT_LISTED, _audited_in_a, listed=_listed("events", "target_id")
    ),
    f"{AUTH}.AuthenticationService/Login": Case(ANYONE, _login_request),
    f"{AUTH}.AuthenticationService/RefreshToken": Case(ANYONE, _with_refresh("RefreshToken")),
    f"{AUTH}.AuthenticationService/Logout": Case(ANYONE, _with_refresh("Logout")),
    f"{AUTH}.AuthenticationService/ChangePassword": Case(m.SELF, _change_password()),
}
