"""`shipyard session-template ...` and `shipyard preset ...`: saved session descriptions, named
slot sets, and what the caller can still allocate (docs/templates-and-presets.md)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.client import ShipyardClient

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]
TEMPLATES = "/v1/session-templates"
PRESETS = "/v1/resource-presets"


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _payload(path: str) -> str:
    return sys.stdin.read() if path == "-" else Path(path).read_text()


def _slots(text: str) -> dict[str, str]:
    slots: dict[str, str] = {}
    for item in text.split(","):
        slot, sep, amount = item.partition("=")
        if not sep or not slot or not amount:
            raise SystemExit(
                f"--slots takes SLOT=AMOUNT[,...], e.g. cpu=2,mem=1073741824: {item!r}"
            )
        slots[slot.strip()] = amount.strip()
    return slots


def register(sub: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add `shipyard session-template ...` and `shipyard preset ...`."""

    async def call(args: argparse.Namespace, method: str, path: str, **kw: Any) -> Any:
        async with make_client(args) as client:
            return await client.request(method, path, **kw)

    async def tpl_create(args: argparse.Namespace) -> int:
        body = {"payload": _payload(args.file)}
        if args.project:
            body["project_id"] = args.project
        _print((await call(args, "POST", TEMPLATES, body=body))["template"])
        return 0

    async def tpl_list(args: argparse.Namespace) -> int:
        templates: list[Any] = []
        params = {"project_id": args.project or "", "page_size": 1000, "page_token": ""}
        while True:  # every page
            page = await call(args, "GET", TEMPLATES, params=params)
            templates += page.get("templates", [])
            params["page_token"] = page.get("next_page_token", "")
            if not params["page_token"]:
                break
        _print(templates)
        return 0

    async def tpl_get(args: argparse.Namespace) -> int:
        _print((await call(args, "GET", f"{TEMPLATES}/{args.template_id}"))["template"])
        return 0

    async def tpl_update(args: argparse.Namespace) -> int:
        body = {"payload": _payload(args.file)}
        reply = await call(args, "PUT", f"{TEMPLATES}/{args.template_id}", body=body)
        _print(reply["template"])
        return 0

    async def tpl_delete(args: argparse.Namespace) -> int:
        await call(args, "DELETE", f"{TEMPLATES}/{args.template_id}")
        return 0

    tpl = sub.add_parser("session-template", help="saved session and cluster descriptions")
    tsub = tpl.add_subparsers(required=True)
    create = tsub.add_parser("create", help="store a template from a YAML or JSON file")
    create.add_argument("-f", "--file", required=True, help="the document ('-' for stdin)")
    create.add_argument("--project", help="give it to this project (its members may use it)")
    create.set_defaults(func=tpl_create)
    listing = tsub.add_parser("list")
    listing.add_argument("--project", help="only this project's templates")
    listing.set_defaults(func=tpl_list)
    for name, func in (("get", tpl_get), ("delete", tpl_delete)):
        p = tsub.add_parser(name)
        p.add_argument("template_id")
        p.set_defaults(func=func)
    update = tsub.add_parser("update", help="replace a template's document")
    update.add_argument("template_id")
    update.add_argument("-f", "--file", required=True)
    update.set_defaults(func=tpl_update)

    async def preset_list(args: argparse.Namespace) -> int:
        params = {"resource_group": args.resource_group} if args.resource_group else None
        reply = await call(args, "GET", PRESETS, params=params)
        _print(reply.get("resource_presets", []))
        return 0

    async def preset_check(args: argparse.Namespace) -> int:
        body = {"project_id": args.project or "", "resource_group": args.resource_group or ""}
        _print(await call(args, "POST", f"{PRESETS}:check", body=body))
        return 0

    async def preset_create(args: argparse.Namespace) -> int:
        body = {
            "name": args.name,
            "resource_slots": {"amounts": _slots(args.slots)},
            "resource_group": args.resource_group or "",
        }
        _print((await call(args, "POST", PRESETS, body=body))["resource_preset"])
        return 0

    async def preset_delete(args: argparse.Namespace) -> int:
        await call(args, "DELETE", f"{PRESETS}/{args.name}")
        return 0

    preset = sub.add_parser("preset", help="resource presets and what you can still allocate")
    psub = preset.add_subparsers(required=True)
    pl = psub.add_parser("list")
    pl.add_argument("--resource-group")
    pl.set_defaults(func=preset_list)
    pc = psub.add_parser("check", help="limits, usage, free capacity and which presets fit")
    pc.add_argument("--project", help="project id (default: your first project)")
    pc.add_argument("--resource-group")
    pc.set_defaults(func=preset_check)
    pn = psub.add_parser("create", help="(superadmins) add a preset")
    pn.add_argument("name")
    pn.add_argument("--slots", required=True, help="SLOT=AMOUNT[,...], e.g. cpu=2,mem=4294967296")
    pn.add_argument("--resource-group", help="offer it only in this group")
    pn.set_defaults(func=preset_create)
    pd = psub.add_parser("delete", help="(superadmins) remove a preset")
    pd.add_argument("name")
    pd.set_defaults(func=preset_delete)
