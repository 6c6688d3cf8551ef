"""`shipyard session ...`: create, run code in, inspect and end compute sessions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from cli import session_apps, session_files, session_run, why
from cli.client import ShipyardClient
from cli.session_events import add_events_command
from cli.shell import run_shell
from cli.usage_commands import remaining_lines

ClientFactory = Callable[[argparse.Namespace], ShipyardClient]


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _bytes(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def register(sub: argparse._SubParsersAction, make_client: ClientFactory) -> None:  # type: ignore[type-arg]
    """Add `shipyard session ...`."""

    async def cmd_session_create(args: argparse.Namespace) -> int:
        body: dict[str, Any] = {"wait": args.wait, "resources": {}}
        if args.name:
            body["name"] = args.name
        if args.cpu:
            body["resources"]["cpu"] = args.cpu
        if args.mem:
            body["resources"]["mem"] = str(_bytes(args.mem))
        for item in args.resource or ():
            slot, sep, amount = item.partition("=")
            if not sep or not slot or not amount:
                raise SystemExit(f"--resource takes SLOT=AMOUNT (e.g. cuda.device=1), got {item!r}")
            body["resources"][slot] = amount
        # "name" mounts at /home/work/name; "name/sub" or "name:path" go as mount specs.
        plain = [m for m in args.mount or () if "/" not in m and ":" not in m]
        specs = [m for m in args.mount or () if m not in plain]
        if plain:
            body["vfolder_names"] = plain
        if specs:
            body["mounts"] = specs
        if args.template:
            body["template_id"] = args.template
        if args.batch:
            body["session_type"] = "SESSION_TYPE_BATCH"
            body["startup_command"] = args.batch
        if args.client_token:
            body["client_token"] = args.client_token
        if args.image:
            body["image"] = args.image
        if args.resource_group:
            body["resource_group"] = args.resource_group
        if args.cluster_size:  # docs/cluster-sessions.md
            body["cluster_size"] = args.cluster_size
            body["cluster_mode"] = "CLUSTER_MODE_" + args.cluster_mode.upper().replace("-", "_")
        body.update(why.scheduling_body(args))
        async with make_client(args) as client:
            _print(await client.create_session(**body))
        return 0

    async def cmd_session_exec(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            mode = "batch" if args.batch else "query"
            result = await client.execute(args.session_id, args.code, mode=mode)
        sys.stdout.write(result.get("stdout", ""))
        sys.stderr.write(result.get("stderr", ""))
        return int(result.get("exit_code", 0))

    async def cmd_session_info(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            session = await client.get_session(args.session_id)
        _print(session)
        for line in remaining_lines(session):  # on stderr: stdout stays JSON
            print(line, file=sys.stderr)
        return 0

    async def cmd_session_logs(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            print(await client.get_session_logs(args.session_id, tail_lines=args.tail), end="")
        return 0

    async def cmd_session_rename(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            path = f"/v1/sessions/{args.session_id}:rename"
            _print(await client.request("POST", path, body={"name": args.name}))
        return 0

    async def cmd_session_restart(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            session = await client.restart_session(args.session_id, wait=args.wait)
        _print(session)
        return 0 if not args.wait or session.get("status") == "SESSION_STATUS_RUNNING" else 1

    async def cmd_session_list(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            _print(await client.list_sessions())
        return 0

    async def cmd_session_destroy(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            _print(await client.destroy_session(args.session_id, forced=args.forced))
        return 0

    async def cmd_session_shell(args: argparse.Namespace) -> int:
        async with make_client(args) as client:
            return await run_shell(client, args.session_id)

    session = sub.add_parser("session", help="compute sessions").add_subparsers(required=True)
    create = session.add_parser("create")
    create.add_argument("--name")
    create.add_argument("--cpu")
    create.add_argument("--mem", help="e.g. 512m, 2g")
    create.add_argument(
        "--mount",
        action="append",
        help="NAME[/SUBPATH][:KERNEL_PATH], e.g. data or data/sub:/home/work/x (repeatable)",
    )
    create.add_argument("--template", help="session template id; the other options override it")
    create.add_argument(
        "--resource", action="append", help="SLOT=AMOUNT, e.g. cuda.device=1 (repeatable)"
    )
    create.add_argument("--batch", metavar="COMMAND", help="batch session running COMMAND")
    create.add_argument("--client-token")
    create.add_argument("--image", help="image reference or alias (default python:3.11)")
    create.add_argument("--resource-group")
    create.add_argument("--cluster-size", type=int, help="number of kernels (main1, sub1, ...)")
    create.add_argument(
        "--cluster-mode", choices=("single-node", "multi-node"), default="single-node"
    )
    create.add_argument("--wait", action="store_true", help="block until RUNNING")
    why.add_scheduling_args(create)
    create.set_defaults(func=cmd_session_create)
    explain = session.add_parser("why", help="why a session is pending, and its queue position")
    explain.add_argument("session_id")
    explain.set_defaults(func=lambda args: why.cmd_session_why(args, make_client))
    ex = session.add_parser("exec")
    ex.add_argument("session_id")
    ex.add_argument("code")
    ex.add_argument("--batch", action="store_true", help="run CODE as a shell command")
    ex.set_defaults(func=cmd_session_exec)
    session_run.add_parser(session, make_client)
    for name, func in (("info", cmd_session_info), ("destroy", cmd_session_destroy)):
        p = session.add_parser(name)
        p.add_argument("session_id")
        if name == "destroy":
            p.add_argument("--forced", action="store_true")
        p.set_defaults(func=func)
    session.add_parser("list").set_defaults(func=cmd_session_list)
    shell = session.add_parser("shell", help="a terminal in the session; exits with its code")
    shell.add_argument("session_id")
    shell.set_defaults(func=cmd_session_shell)
    logs = session.add_parser("logs", help="the console output of a session's main kernel")
    logs.add_argument("session_id")
    logs.add_argument("--tail", type=int, default=0, help="only the last N lines")
    logs.set_defaults(func=cmd_session_logs)
    add_events_command(session, make_client)
    rename = session.add_parser("rename", help="give a live session a new name")
    rename.add_argument("session_id")
    rename.add_argument("name")
    rename.set_defaults(func=cmd_session_rename)
    restart = session.add_parser(
        "restart", help="restart a running session's kernels (files in /home/work stay)"
    )
    restart.add_argument("session_id")
    restart.add_argument("--wait", action="store_true", help="block until RUNNING again")
    restart.set_defaults(func=cmd_session_restart)
    session_apps.register(session, make_client)
    session_files.register(session, make_client)
