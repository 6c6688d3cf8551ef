"""`shipyard admin image|registry|resource-group ...`: images, container registries, resource
groups over the REST API. Tables by default, JSON with --json."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cli.client import ShipyardClient

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]
Handler = Callable[[argparse.Namespace, ShipyardClient], Awaitable[Any]]

IMAGE_COLUMNS = ("name", "architecture", "size_bytes", "aliases", "image_id")
REGISTRY_COLUMNS = ("name", "url", "type", "username", "has_password")
GROUP_COLUMNS = ("name", "is_active", "description")
TASK_COLUMNS = ("task_id", "state", "done", "total", "updated", "error")


def print_result(data: Any, columns: Sequence[str], as_json: bool) -> None:
    rows = data if isinstance(data, list) else [data]
    if as_json:
        print(json.dumps(data, indent=2))
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value).removeprefix("TYPE_").removeprefix("STATE_")


async def _all(client: ShipyardClient, path: str, key: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    token = ""
    while True:
        page = await client.request("GET", path, params={**params, "page_token": token})
        items += page.get(key, [])
        token = page.get("next_page_token", "")
        if not token:
            return items


def _password(args: argparse.Namespace) -> str | None:
    """Read from stdin (never from argv, where `ps` shows it)."""
    return sys.stdin.readline().rstrip("\n") if args.password_stdin else None


# --- images ------------------------------------------------------------------------------------


async def image_list(args: argparse.Namespace, client: ShipyardClient) -> Any:
    params = {"container_registry": args.registry or "", "architecture": args.arch or ""}
    return await _all(client, "/v1/images", "images", **params)


async def image_get(args: argparse.Namespace, client: ShipyardClient) -> Any:
    return (await client.request("GET", f"/v1/images/{args.image_id}"))["image"]


async def image_forget(args: argparse.Namespace, client: ShipyardClient) -> Any:
    await client.request("DELETE", f"/v1/images/{args.image_id}")
    return {"image_id": args.image_id, "forgotten": True}


async def image_alias(args: argparse.Namespace, client: ShipyardClient) -> Any:
    body = {"alias": args.alias, "target": args.target}
    return (await client.request("POST", "/v1/image-aliases", body=body))["image_alias"]


async def image_aliases(_args: argparse.Namespace, client: ShipyardClient) -> Any:
    return await _all(client, "/v1/image-aliases", "image_aliases")


async def image_dealias(args: argparse.Namespace, client: ShipyardClient) -> Any:
    await client.request("DELETE", f"/v1/image-aliases/{args.alias}")
    return {"alias": args.alias, "deleted": True}


# --- container registries ----------------------------------------------------------------------


def _registry_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("url", "username"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    if (password := _password(args)) is not None:
        body["password"] = password
    if args.ssl_verify is not None:
        body["ssl_verify"] = args.ssl_verify
    return body


async def registry_create(args: argparse.Namespace, client: ShipyardClient) -> Any:
    body = {"name": args.name, "ssl_verify": True, **_registry_body(args)}
    reply = await client.request("POST", "/v1/container-registries", body=body)
    return reply["container_registry"]


async def registry_update(args: argparse.Namespace, client: ShipyardClient) -> Any:
    body = _registry_body(args)
    params = {"update_mask": ",".join(body)}
    path = f"/v1/container-registries/{args.name}"
    return (await client.request("PATCH", path, body=body, params=params))["container_registry"]


async def registry_list(_args: argparse.Namespace, client: ShipyardClient) -> Any:
    return await _all(client, "/v1/container-registries", "container_registries")


async def registry_get(args: argparse.Namespace, client: ShipyardClient) -> Any:
    return (await client.request("GET", f"/v1/container-registries/{args.name}"))[
        "container_registry"
    ]


async def registry_delete(args: argparse.Namespace, client: ShipyardClient) -> Any:
    await client.request("DELETE", f"/v1/container-registries/{args.name}")
    return {"name": args.name, "deleted": True}


async def registry_rescan(args: argparse.Namespace, client: ShipyardClient) -> Any:
    path = f"/v1/container-registries/{args.name}:rescan"
    task = (await client.request("POST", path, body={}))["task"]
    deadline = time.monotonic() + args.timeout
    while args.wait and task["state"] == "STATE_RUNNING" and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        task = (await client.request("GET", f"/v1/rescan-tasks/{task['task_id']}"))["task"]
        print(f"rescan {task['done']}/{task['total']} tags", file=sys.stderr)
    return task


# --- resource groups ---------------------------------------------------------------------------


async def group_create(args: argparse.Namespace, client: ShipyardClient) -> Any:
    body = {"name": args.name, "description": args.description or "", "is_active": args.active}
    return (await client.request("POST", "/v1/resource-groups", body=body))["resource_group"]


async def group_update(args: argparse.Namespace, client: ShipyardClient) -> Any:
    body: dict[str, Any] = {}
    if args.description is not None:
        body["description"] = args.description
    if args.active is not None:
        body["is_active"] = args.active
    if args.no_utilization:
        body["idle_utilization"] = None
    elif args.utilization_window is not None:
        body["idle_utilization"] = _utilization(args)
    params = {"update_mask": ",".join(body)}
    path = f"/v1/resource-groups/{args.name}"
    return (await client.request("PATCH", path, body=body, params=params))["resource_group"]


def _utilization(args: argparse.Namespace) -> dict[str, Any]:
    """`--utilization-*` as an IdleUtilization (docs/idle-and-usage.md)."""
    thresholds = {}
    for item in args.utilization_threshold or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--utilization-threshold takes NAME=PERCENT, got {item!r}")
        thresholds[name] = float(value)
    return {
        "window": f"{args.utilization_window}s",
        "initial_grace": f"{args.utilization_grace or 0}s",
        "thresholds": thresholds,
        "operator": "or" if args.utilization_any else "and",
    }


async def group_list(_args: argparse.Namespace, client: ShipyardClient) -> Any:
    return await _all(client, "/v1/resource-groups", "resource_groups")


async def group_get(args: argparse.Namespace, client: ShipyardClient) -> Any:
    return (await client.request("GET", f"/v1/resource-groups/{args.name}"))["resource_group"]


async def group_delete(args: argparse.Namespace, client: ShipyardClient) -> Any:
    await client.request("DELETE", f"/v1/resource-groups/{args.name}")
    return {"name": args.name, "deleted": True}


# --- wiring ------------------------------------------------------------------------------------


def register(admin: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add the image, registry and resource-group commands under `shipyard admin`."""

    def add(parent: Any, name: str, handler: Handler, columns: Sequence[str]) -> Any:
        parser = parent.add_parser(name)
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

        async def run(args: argparse.Namespace) -> int:
            async with make_client(args) as client:
                print_result(await handler(args, client), columns, args.json)
            return 0

        parser.set_defaults(func=run)
        return parser

    image = admin.add_parser("image", help="kernel images").add_subparsers(required=True)
    p = add(image, "list", image_list, IMAGE_COLUMNS)
    p.add_argument("--registry")
    p.add_argument("--arch")
    for name, handler in (("get", image_get), ("forget", image_forget)):
        add(image, name, handler, IMAGE_COLUMNS).add_argument("image_id")
    p = add(image, "alias", image_alias, ("alias", "target"))
    p.add_argument("alias")
    p.add_argument("target")
    add(image, "aliases", image_aliases, ("alias", "target"))
    add(image, "dealias", image_dealias, ("alias", "deleted")).add_argument("alias")

    registry = admin.add_parser("registry", help="container registries").add_subparsers(
        required=True
    )
    for name, handler in (("create", registry_create), ("update", registry_update)):
        p = add(registry, name, handler, REGISTRY_COLUMNS)
        p.add_argument("name")
        p.add_argument("--url", required=name == "create")
        p.add_argument("--username")
        p.add_argument("--password-stdin", action="store_true", help="read the password")
        p.add_argument("--ssl-verify", action=argparse.BooleanOptionalAction, default=None)
    add(registry, "list", registry_list, REGISTRY_COLUMNS)
    for name, handler in (("get", registry_get), ("delete", registry_delete)):
        add(registry, name, handler, REGISTRY_COLUMNS).add_argument("name")
    p = add(registry, "rescan", registry_rescan, TASK_COLUMNS)
    p.add_argument("name")
    p.add_argument("--wait", action="store_true", help="poll until the rescan ends")
    p.add_argument("--timeout", type=float, default=600.0)

    group = admin.add_parser("resource-group", help="resource groups").add_subparsers(required=True)
    p = add(group, "create", group_create, GROUP_COLUMNS)
    p.add_argument("name")
    p.add_argument("--description")
    p.add_argument("--active", action=argparse.BooleanOptionalAction, default=True)
    p = add(group, "update", group_update, GROUP_COLUMNS)
    p.add_argument("name")
    p.add_argument("--description")
    p.add_argument("--active", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument(
        "--utilization-window", type=int, metavar="SECONDS", help="idle utilization check"
    )
    p.add_argument("--utilization-threshold", action="append", metavar="cpu|mem|cuda=PERCENT")
    p.add_argument("--utilization-grace", type=int, metavar="SECONDS")
    p.add_argument("--utilization-any", action="store_true", help="one missed threshold suffices")
    p.add_argument("--no-utilization", action="store_true", help="stop checking utilization")
    add(group, "list", group_list, GROUP_COLUMNS)
    for name, handler in (("get", group_get), ("delete", group_delete)):
        add(group, name, handler, GROUP_COLUMNS).add_argument("name")
