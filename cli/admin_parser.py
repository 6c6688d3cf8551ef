"""The argument grammar of `shipyard admin ...`; registered from cli/main.py."""

from __future__ import annotations

import argparse
from typing import Any

from cli import admin
from cli.admin_output import render

_LIST_KEYS = {
    "domain": "domains",
    "project": "projects",
    "user": "users",
    "keypair": "keypairs",
    "policy": "resource_policies",
    "resource-group-access": "accesses",
    "audit": "events",
    "member": "members",
}


def add_admin_commands(sub: Any, client: admin.ClientFactory) -> Any:
    """Add `shipyard admin ...`; returns the nouns' subparsers so other modules can add theirs."""
    top = sub.add_parser("admin", help="administer tenants, accounts, keypairs and policies")
    nouns = top.add_subparsers(required=True)

    async def run(args: argparse.Namespace) -> int:
        async with client(args) as c:
            kind, data = await args.handler(c, args)
        if isinstance(data, dict) and _LIST_KEYS[kind] in data:
            items = data[_LIST_KEYS[kind]]
            print(render(data if args.json else items, admin._COLUMNS[kind], as_json=args.json))
            if data.get("next_page_token") and not args.json:
                print(f"(more: --page-token {data['next_page_token']})")
        elif isinstance(data, dict) and "secret_key" in data:  # a new keypair: shown once
            print(
                render(
                    data if args.json else data["keypair"], admin._COLUMNS[kind], as_json=args.json
                )
            )
            if not args.json:
                print(f"secret key (shown only now): {data['secret_key']}")
        elif isinstance(data, dict) and set(data) >= {"sessions_ended"}:
            obj = next(v for k, v in data.items() if isinstance(v, dict))
            print(render(data if args.json else obj, admin._COLUMNS[kind], as_json=args.json))
            if not args.json:
                ended = "ended" if data["sessions_ended"] else "left to finish"
                print(f"running sessions: {ended} ({data.get('ended_session_count', 0)})")
        elif data:
            print(render(data, admin._COLUMNS[kind], as_json=args.json))
        return 0

    def noun(name: str, handler: admin.Handler, help_text: str) -> Any:
        parser = nouns.add_parser(name, help=help_text)
        parser.set_defaults(func=run, handler=handler)
        return parser.add_subparsers(dest="verb", required=True)

    def verb(verbs: Any, name: str, *positional: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(name)
        for arg in positional:
            p.add_argument(arg)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if name in ("list", "members"):
            p.add_argument("--page-size", type=int, default=0)
            p.add_argument("--page-token", default="")
        if name in ("update", "delete") and positional:
            p.add_argument("--end-sessions", action="store_true", help="end running sessions")
        return p

    def state(p: argparse.ArgumentParser, *, slots: bool = True) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--active", dest="active", action="store_true", default=None)
        group.add_argument("--inactive", dest="active", action="store_false")
        p.add_argument("--description")
        if slots:
            p.add_argument("--slots", help="total_resource_slots, e.g. cpu=8,mem=16g")
            p.add_argument("--vfolder-hosts", help="comma-separated storage hosts")

    d = noun("domain", admin.domain, "domains (tenants)")
    for name in ("create", "update"):
        state(verb(d, name, "name"))
    verb(d, "get", "name")
    verb(d, "delete", "name")
    verb(d, "list").add_argument("--deleted", action="store_true")

    p = noun("project", admin.project, "projects in a domain, and their members")
    pc = verb(p, "create", "name")
    pc.add_argument("--domain", required=True)
    state(pc)
    pu = verb(p, "update", "id")
    pu.add_argument("--name")
    state(pu)
    verb(p, "get", "id")
    verb(p, "delete", "id")
    pl = verb(p, "list")
    pl.add_argument("--domain")
    pl.add_argument("--name", help="name contains")
    pl.add_argument("--deleted", action="store_true")
    for name in ("add-member", "remove-member"):
        verb(p, name, "id", "user_id")
    verb(p, "members", "id")

    u = noun("user", admin.user, "user accounts")
    roles = ("user", "admin", "superadmin", "monitor")
    uc = verb(u, "create", "email")
    uc.add_argument("--domain", required=True)
    uc.add_argument("--role", choices=roles)
    uc.add_argument("--full-name")
    uc.add_argument("--description")
    uc.add_argument("--project", action="append", help="project id to join (repeatable)")
    uu = verb(u, "update", "id")
    uu.add_argument("--email")
    uu.add_argument("--full-name")
    uu.add_argument("--description")
    uu.add_argument("--role", choices=roles)
    uu.add_argument("--status", choices=("active", "inactive"))
    uu.add_argument("--need-password-change", action="store_true", default=None)
    for parser in (uc, uu):
        parser.add_argument("--password-stdin", action="store_true", help="read it from stdin")
        parser.add_argument("--ask-password", action="store_true", help="prompt for it")
    verb(u, "get", "id")
    verb(u, "delete", "id")
    ul = verb(u, "list")
    for flag in ("--domain", "--email", "--project"):
        ul.add_argument(flag)
    ul.add_argument("--role", choices=roles)
    ul.add_argument("--status", choices=("active", "inactive", "deleted"))
    ul.add_argument("--deleted", action="store_true")

    k = noun("keypair", admin.keypair, "keypairs of a user (the secret is shown once)")
    kc = verb(k, "create", "user_id")
    kc.add_argument("--admin", action="store_true")
    ku = verb(k, "update", "user_id", "access_key")
    group = ku.add_mutually_exclusive_group()
    group.add_argument("--active", dest="active", action="store_true", default=None)
    group.add_argument("--inactive", dest="active", action="store_false")
    for parser in (kc, ku):
        parser.add_argument("--resource-policy")
        parser.add_argument("--rate-limit", type=int)
    verb(k, "get", "user_id", "access_key")
    verb(k, "delete", "user_id", "access_key")
    kl = verb(k, "list", "user_id")
    kl.add_argument("--resource-policy")
    kl.add_argument("--revoked", action="store_true")

    r = noun("policy", admin.policy, "keypair resource policies")
    for name in ("create", "update"):
        rp = verb(r, name, "name")
        rp.add_argument("--slots", help="total_resource_slots, e.g. cpu=8,mem=16g")
        rp.add_argument("--vfolder-hosts")
        rp.add_argument("--unspecified", choices=("limited", "unlimited"))
        for field in admin._POLICY_INTS:
            rp.add_argument("--" + field.replace("_", "-"), type=int)
        for field in admin._POLICY_SECONDS:
            rp.add_argument("--" + field.replace("_", "-"), type=int, help="seconds")
    verb(r, "get", "name")
    verb(r, "delete", "name")
    verb(r, "list")

    a = noun("resource-group-access", admin.access, "who may use each resource group")
    for name in ("create", "update"):
        ap = verb(a, name, "group")
        ap.add_argument("--domains", help="comma-separated domain names")
        ap.add_argument("--projects", help="comma-separated project ids")
        ap.add_argument("--access-keys", help="comma-separated access keys")
    verb(a, "get", "group")
    verb(a, "delete", "group")
    verb(a, "list")

    au = noun("audit", admin.audit, "the audit log")
    al = verb(au, "list")
    for flag in ("--actor", "--action", "--target-type", "--target", "--domain"):
        al.add_argument(flag)
    al.add_argument("--since", help="RFC 3339 time")
    al.add_argument("--until", help="RFC 3339 time")
    return nouns
