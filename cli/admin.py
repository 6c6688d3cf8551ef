"""`shipyard admin ...`: tenants, accounts, keypairs, policies, access lists and the audit log,
through the edge's REST API (signed with the caller's keypair)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from cli.admin_output import parse_slots, split_list
from cli.client import ShipyardClient

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]
Handler = Callable[[ShipyardClient, argparse.Namespace], Awaitable[Any]]

_COLUMNS = {
    "domain": ("name", "is_active", "total_resource_slots", "description", "delete_time"),
    "project": ("project_id", "domain_name", "name", "is_active", "total_resource_slots"),
    "user": ("user_id", "email", "domain_name", "role", "status", "project_ids"),
    "keypair": ("access_key", "user_id", "is_active", "resource_policy", "rate_limit"),
    "policy": (
        "name",
        "total_resource_slots",
        "max_concurrent_sessions",
        "max_pending_sessions",
        "max_containers_per_session",
        "max_session_lifetime",
    ),
    "resource-group-access": ("resource_group", "domain_names", "project_ids", "access_keys"),
    "audit": ("time", "actor_email", "action", "target_type", "target_id", "outcome"),
    "member": ("project_id", "user_id", "email"),
}


def _camel(path: str) -> str:
    head, *rest = path.split("_")
    return head + "".join(p.title() for p in rest)


def _mask(fields: dict[str, Any]) -> dict[str, str]:
    return {"update_mask": ",".join(_camel(f) for f in fields)}


def _set(fields: dict[str, Any], args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value


def _common(fields: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    _set(fields, args, "description")
    if getattr(args, "active", None) is not None:
        fields["is_active"] = args.active
    if getattr(args, "slots", None) is not None:
        fields["total_resource_slots"] = {"amounts": parse_slots(args.slots)}
    if getattr(args, "vfolder_hosts", None) is not None:
        fields["allowed_vfolder_hosts"] = split_list(args.vfolder_hosts)
    return fields


def _changes(fields: dict[str, Any]) -> dict[str, Any]:
    if not fields:
        raise SystemExit("nothing to change: pass at least one option")
    return fields


def _end(args: argparse.Namespace) -> dict[str, str]:
    return {"end_sessions": "true"} if getattr(args, "end_sessions", False) else {}


def _page(args: argparse.Namespace, **filters: Any) -> dict[str, Any]:
    params = {
        k: "true" if v is True else v for k, v in filters.items() if v not in (None, "", False)
    }
    if args.page_size:
        params["page_size"] = args.page_size
    if args.page_token:
        params["page_token"] = args.page_token
    return params


# --- handlers: each returns (kind, data) ----------------------------------------------------


async def domain(c: ShipyardClient, a: argparse.Namespace) -> tuple[str, Any]:
    if a.verb == "create":
        body = _common({"name": a.name, "is_active": True}, a)
        return "domain", (await c.request("POST", "/v1/domains", body=body))["domain"]
    if a.verb == "get":
        return "domain", (await c.request("GET", f"/v1/domains/{a.name}"))["domain"]
    if a.verb == "list":
        reply = await c.request("GET", "/v1/domains", params=_page(a, show_deleted=a.deleted))
        return "domain", reply
    if a.verb == "update":
        fields = _changes(_common({}, a))
        params = {**_mask(fields), **_end(a)}
        path = f"/v1/domains/{a.name}"
        return "domain", await c.request("PATCH", path, body=fields, params=params)
    return "domain", await c.request("DELETE", f"/v1/domains/{a.name}", params=_end(a))


async def project(c: ShipyardClient, a: argparse.Namespace) -> tuple[str, Any]:
    if a.verb == "create":
        body = _common({"domain_name": a.domain, "name": a.name, "is_active": True}, a)
        return "project", (await c.request("POST", "/v1/projects", body=body))["project"]
    if a.verb == "get":
        return "project", (await c.request("GET", f"/v1/projects/{a.id}"))["project"]
    if a.verb == "list":
        params = _page(a, domain_name=a.domain, name_contains=a.name, show_deleted=a.deleted)
        return "project", await c.request("GET", "/v1/projects", params=params)
    if a.verb == "update":
        fields = _changes(_common({} if a.name is None else {"name": a.name}, a))
        params = {**_mask(fields), **_end(a)}
        return "project", await c.request(
            "PATCH", f"/v1/projects/{a.id}", body=fields, params=params
        )
    if a.verb == "add-member":
        body = {"user_id": a.user_id}
        return "member", (await c.request("POST", f"/v1/projects/{a.id}/members", body=body))[
            "member"
        ]
    if a.verb == "remove-member":
        return "member", await c.request("DELETE", f"/v1/projects/{a.id}/members/{a.user_id}")
    if a.verb == "members":
        return "member", await c.request("GET", f"/v1/projects/{a.id}/members", params=_page(a))
    return "project", await c.request("DELETE", f"/v1/projects/{a.id}", params=_end(a))


def _password(a: argparse.Namespace) -> str | None:
    if a.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if a.ask_password:
        return getpass.getpass("password: ")
    return None


async def user(c: ShipyardClient, a: argparse.Namespace) -> tuple[str, Any]:
    if a.verb == "create":
        fields: dict[str, Any] = {"email": a.email, "domain_name": a.domain}
        _set(fields, a, "full_name", "description")
        if a.role:
            fields["role"] = f"ROLE_{a.role.upper()}"
        body = {"user": fields, "password": _password(a) or "", "project_ids": a.project or []}
        return "user", (await c.request("POST", "/v1/users", body=body))["user"]
    if a.verb == "get":
        return "user", (await c.request("GET", f"/v1/users/{a.id}"))["user"]
    if a.verb == "list":
        params = _page(
            a,
            domain_name=a.domain,
            role=f"ROLE_{a.role.upper()}" if a.role else None,
            status=f"USER_STATUS_{a.status.upper()}" if a.status else None,
            email_contains=a.email,
            project_id=a.project,
            show_deleted=a.deleted,
        )
        return "user", await c.request("GET", "/v1/users", params=params)
    if a.verb == "update":
        fields = {"user_id": a.id}
        _set(fields, a, "full_name", "description", "email", "need_password_change")
        if a.role:
            fields["role"] = f"ROLE_{a.role.upper()}"
        if a.status:
            fields["status"] = f"USER_STATUS_{a.status.upper()}"
        paths = [f for f in fields if f != "user_id"]
        password = _password(a)
        if password is not None:
            paths.append("password")
        if not paths:
            raise SystemExit("nothing to change: pass at least one option")
        body = {
            "user": fields,
            "update_mask": ",".join(_camel(p) for p in paths),
            "password": password or "",
            "end_sessions": a.end_sessions,
        }
        return "user", await c.request("PATCH", f"/v1/users/{a.id}", body=body)
    return "user", await c.request("DELETE", f"/v1/users/{a.id}", params=_end(a))


async def keypair(c: ShipyardClient, a: argparse.Namespace) -> tuple[str, Any]:
    base = f"/v1/users/{a.user_id}/keypairs"
    if a.verb == "create":
        body: dict[str, Any] = {"is_admin": a.admin}
        _set(body, a, "resource_policy", "rate_limit")
        return "keypair", await c.request("POST", base, body=body)
    if a.verb == "get":
        return "keypair", (await c.request("GET", f"{base}/{a.access_key}"))["keypair"]
    if a.verb == "list":
        params = _page(a, resource_policy=a.resource_policy, show_revoked=a.revoked)
        return "keypair", await c.request("GET", base, params=params)
    if a.verb == "update":
        fields: dict[str, Any] = {}
        _set(fields, a, "resource_policy", "rate_limit")
        if a.active is not None:
            fields["is_active"] = a.active
        params = {**_mask(_changes(fields)), **_end(a)}
        return "keypair", await c.request(
            "PATCH", f"{base}/{a.access_key}", body=fields, params=params
        )
    return "keypair", await c.request("DELETE", f"{base}/{a.access_key}", params=_end(a))


_POLICY_INTS = (
    "max_concurrent_sessions",
    "max_containers_per_session",
    "max_pending_sessions",
    "max_vfolder_count",
    "max_vfolder_size",
)
_POLICY_SECONDS = ("max_session_lifetime", "idle_timeout")


def _policy_fields(a: argparse.Namespace) -> dict[str, Any]:
    fields = _common({}, a)
    fields.pop("description", None)
    _set(fields, a, *_POLICY_INTS)
    for name in _POLICY_SECONDS:
        if getattr(a, name) is not None:
            fields[name] = f"{getattr(a, name)}s"
    if a.unspecified:
        fields["default_for_unspecified"] = f"DEFAULT_FOR_UNSPECIFIED_{a.unspecified.upper()}"
    return fields


async def policy(c: ShipyardClient, a: argparse.Namespace) -> tuple[str, Any]:
    if a.verb == "create":
        body = {"name": a.name, **_policy_fields(a)}
        reply = await c.request("POST", "/v1/resource-policies", body=body)
        return "policy", reply["resource_policy"]
    if a.verb == "get":
        return "policy", (await c.request("GET", f"/v1/resource-policies/{a.name}"))[
            "resource_policy"
        ]
    if a.verb == "list":
        return "policy", await c.request("GET", "/v1/resource-policies", params=_page(a))
    if a.verb == "update":
        fields = _changes(_policy_fields(a))
        path = f"/v1/resource-policies/{a.name}"
        reply = await c.request("PATCH", path, body=fields, params=_mask(fields))
        return "policy", reply["resource_policy"]
    return "policy", await c.request("DELETE", f"/v1/resource-policies/{a.name}")


async def access(c: ShipyardClient, a: argparse.Namespace) -> tuple[str, Any]:
    kind = "resource-group-access"
    path = f"/v1/resource-groups/{getattr(a, 'group', '')}/access"
    if a.verb == "get":
        return kind, (await c.request("GET", path))["access"]
    if a.verb == "list":
        return kind, await c.request("GET", "/v1/resource-group-access", params=_page(a))
    fields: dict[str, Any] = {}
    if a.verb == "delete":  # clear every list
        fields = {"domain_names": [], "project_ids": [], "access_keys": []}
    for flag, name in (("domains", "domain_names"), ("projects", "project_ids")):
        if getattr(a, flag, None) is not None:
            fields[name] = split_list(getattr(a, flag))
    if getattr(a, "access_keys", None) is not None:
        fields["access_keys"] = split_list(a.access_keys)
    reply = await c.request("PATCH", path, body=_changes(fields), params=_mask(fields))
    return kind, reply["access"]


async def audit(c: ShipyardClient, a: argparse.Namespace) -> tuple[str, Any]:
    params = _page(
        a,
        actor_user_id=a.actor,
        action=a.action,
        target_type=a.target_type,
        target_id=a.target,
        domain_name=a.domain,
        start_time=a.since,
        end_time=a.until,
    )
    return "audit", await c.request("GET", "/v1/audit-events", params=params)
