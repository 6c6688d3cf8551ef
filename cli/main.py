"""The `shipyard` command: bring the platform up, and drive sessions and folders by hand."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from cli import (
    admin_events,
    admin_registry,
    session_commands,
    template_commands,
    usage_commands,
    vfolder_files,
    vfolder_transfer,
)
from cli import login as login_flow
from cli.admin_parser import add_admin_commands
from cli.client import ApiError, ShipyardClient
from cli.edge_command import add_edge_parser
from cli.login import BearerAuth, LoginError, SavedLogin
from cli.up_command import cmd_up

DEFAULT_DATA_DIR = Path(".shipyard")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        code = asyncio.run(args.func(args))
    except (ApiError, LoginError) as exc:
        print(json.dumps({"status": exc.status, "error": exc.body}, indent=2), file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def _client(args: argparse.Namespace) -> ShipyardClient:
    """Credentials from SHIPYARD_* (or BACKEND_*) variables, else from the last `shipyard up`."""
    saved: dict[str, str] = {}
    path = args.data_dir / "client.json"
    if path.exists():
        saved = json.loads(path.read_text())

    def pick(key: str) -> str:
        return (
            os.environ.get(f"SHIPYARD_{key.upper()}")
            or os.environ.get(f"BACKEND_{key.upper()}")
            or saved.get(key, "")
        )

    endpoint, access, secret = pick("endpoint"), pick("access_key"), pick("secret_key")
    ca_file = os.environ.get("SHIPYARD_CA_FILE") or saved.get("ca_file")
    # A keypair from the environment wins; else the user of `shipyard login`; else `up`'s key.
    signed_by_env = os.environ.get("SHIPYARD_ACCESS_KEY") or os.environ.get("BACKEND_ACCESS_KEY")
    logged_in = SavedLogin.load(args.data_dir)
    if logged_in is not None and not signed_by_env:
        bearer = BearerAuth(logged_in, args.data_dir)
        return ShipyardClient(logged_in.endpoint, "", "", verify=ca_file or True, bearer=bearer)
    if not (endpoint and access and secret):
        raise SystemExit(
            "no credentials: run `shipyard up` or `shipyard login`, or set "
            "SHIPYARD_ENDPOINT/ACCESS_KEY/SECRET_KEY"
        )
    return ShipyardClient(endpoint, access, secret, verify=ca_file or True)


def _endpoint(args: argparse.Namespace) -> tuple[str, str | bool]:
    """The edge endpoint and the CA file to trust, from flags, SHIPYARD_* or `shipyard up`."""
    path = args.data_dir / "client.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    endpoint = args.endpoint or os.environ.get("SHIPYARD_ENDPOINT") or saved.get("endpoint")
    if not endpoint:
        raise SystemExit("no endpoint: pass --endpoint or run `shipyard up`")
    ca_file = os.environ.get("SHIPYARD_CA_FILE") or saved.get("ca_file")
    return str(endpoint), ca_file or True


async def cmd_login(args: argparse.Namespace) -> int:
    endpoint, verify = _endpoint(args)
    # Prompts block, but nothing else runs in this loop yet.
    email = args.email or await asyncio.to_thread(input, "e-mail: ")
    password = args.password or os.environ.get("SHIPYARD_PASSWORD")
    if not password:
        password = await asyncio.to_thread(getpass.getpass)
    async with httpx.AsyncClient(verify=verify, timeout=30) as http:
        saved, must_change = await login_flow.login(http, endpoint, email, str(password))
    saved.save(args.data_dir)
    print(f"logged in as {email}; the token is refreshed automatically")
    if must_change:
        print("you must change your password: POST /v1/auth:changePassword", file=sys.stderr)
    return 0


async def cmd_logout(args: argparse.Namespace) -> int:
    saved = SavedLogin.load(args.data_dir)
    if saved is None:
        print("not logged in")
        return 0
    _, verify = _endpoint_or_saved(args, saved)
    async with httpx.AsyncClient(verify=verify, timeout=30) as http:
        await login_flow.logout(http, saved)
    (args.data_dir / login_flow.LOGIN_FILE).unlink(missing_ok=True)
    print("logged out")
    return 0


def _endpoint_or_saved(args: argparse.Namespace, saved: SavedLogin) -> tuple[str, str | bool]:
    try:
        return _endpoint(args)
    except SystemExit:
        return saved.endpoint, True


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


async def cmd_vfolder_create(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.create_vfolder(args.name, read_only=args.read_only))
    return 0


async def cmd_vfolder_list(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.list_vfolders())
    return 0


async def cmd_vfolder_delete(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        await client.delete_vfolder(args.vfolder_id, purge=args.purge)
    return 0


async def cmd_whoami(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.whoami())
    return 0


def _replica_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= 8:
        raise argparse.ArgumentTypeError("--replicas: between 1 and 8")
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    sub = parser.add_subparsers(required=True)

    up = sub.add_parser("up", help="start the whole platform on this machine")
    up.add_argument("--port", type=int, default=8090, help="edge port (REST, gRPC, gRPC-Web)")
    up.add_argument("--database-url", help="PostgreSQL DSN (default: local server or private one)")
    up.add_argument("--redis-url", help="Redis URL (default: local server or private one)")
    up.add_argument("--otlp-endpoint", help="host:port of an OTLP/gRPC trace collector")
    up.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a self-signed certificate (in DATA_DIR/tls)",
    )
    up.add_argument(
        "--mtls",
        action="store_true",
        help="service-to-service mutual TLS with a development CA (in DATA_DIR/mtls)",
    )
    up.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the services bind and are dialled at, e.g. one agents on other hosts reach",
    )
    up.add_argument(
        "--backend",
        choices=("auto", "container", "process"),
        default="auto",
        help="kernel backend (default: container when Docker or Podman answers or Podman can be"
        " started, else the sandboxed process backend)",
    )
    up.add_argument("--free-ports", action="store_true", help="free ports for every service")
    up.add_argument(
        "--replicas",
        type=_replica_count,
        default=1,
        help="auth and registry processes behind the edge (and 2 schedulers when > 1)",
    )
    up.add_argument(
        "--starting-registries",
        type=int,
        choices=range(9),
        default=0,
        metavar="N",
        help="registry processes that start the sessions the others bind (default 0: every"
        " registry starts sessions)",
    )
    up.add_argument("--redis-prefix", help="Redis key prefix (default shipyard:)")
    up.add_argument("--accelerators", help="agent accelerator plugins, e.g. cuda or mock")
    up.add_argument("--mock-accelerator-config", type=Path, help="the mock plugin's devices file")
    up.set_defaults(func=cmd_up)
    add_edge_parser(sub)

    session_commands.register(sub, _client)
    usage_commands.register(sub, _client)
    template_commands.register(sub, _client)

    vfolder = sub.add_parser("vfolder", help="virtual folders").add_subparsers(required=True)
    vc = vfolder.add_parser("create")
    vc.add_argument("name")
    vc.add_argument("--read-only", action="store_true", help="sessions mount it read-only")
    vc.set_defaults(func=cmd_vfolder_create)
    vfolder.add_parser("list").set_defaults(func=cmd_vfolder_list)
    vd = vfolder.add_parser("delete", help="move a folder to the trash (--purge: for good)")
    vd.add_argument("vfolder_id")
    vd.add_argument("--purge", action="store_true")
    vd.set_defaults(func=cmd_vfolder_delete)
    vfolder_files.register(vfolder, _client)
    vfolder_files.register_sharing(vfolder, _client)
    vfolder_transfer.register(vfolder, _client)
    sub.add_parser("whoami").set_defaults(func=cmd_whoami)

    login_cmd = sub.add_parser("login", help="log in with e-mail and password (bearer tokens)")
    login_cmd.add_argument("--email")
    login_cmd.add_argument("--password", help="else SHIPYARD_PASSWORD, else a prompt")
    login_cmd.add_argument("--endpoint", help="default: SHIPYARD_ENDPOINT or `shipyard up`'s")
    login_cmd.set_defaults(func=cmd_login)
    logout_cmd = sub.add_parser("logout", help="revoke and forget the saved login")
    logout_cmd.add_argument("--endpoint")
    logout_cmd.set_defaults(func=cmd_logout)
    admin = add_admin_commands(sub, _client)
    admin_registry.register(admin, _client)
    admin_events.register(admin, _client)
    return parser


if __name__ == "__main__":
    main()
