"""The `shipyard` command: bring the platform up, and drive sessions and folders by hand."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform, PlatformConfig

DEFAULT_DATA_DIR = Path(".shipyard")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        code = asyncio.run(args.func(args))
    except ApiError as exc:
        print(json.dumps({"status": exc.status, "error": exc.body}, indent=2), file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


async def cmd_up(args: argparse.Namespace) -> int:
    config = PlatformConfig(
        data_dir=args.data_dir.resolve(),
        edge_port=args.port,
        database_url=args.database_url,
        redis_url=args.redis_url,
        otlp_endpoint=args.otlp_endpoint,
        agent_env=_accelerator_env(args),
    )
    platform = Platform(config)
    print("starting Shipyard (logs in %s) ..." % (config.data_dir / "logs"), flush=True)
    await platform.start()
    assert platform.keypair is not None
    _write_client_env(config.data_dir, platform)
    print(
        f"\nShipyard is up.\n"
        f"  endpoint:    {platform.endpoint}   (REST /v1/..., gRPC and gRPC-Web on the same port)\n"
        f"  access key:  {platform.keypair.access_key}\n"
        f"  secret key:  {platform.keypair.secret_key}\n"
        f"  try:         .venv/bin/shipyard session create --wait\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping ...", flush=True)
    await platform.stop()
    return 0


def _write_client_env(data_dir: Path, platform: Platform) -> None:
    assert platform.keypair is not None
    path = data_dir / "client.json"
    path.write_text(
        json.dumps(
            {
                "endpoint": platform.endpoint,
                "access_key": platform.keypair.access_key,
                "secret_key": platform.keypair.secret_key,
            }
        )
    )
    path.chmod(0o600)


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
    if not (endpoint and access and secret):
        raise SystemExit(
            "no credentials: run `shipyard up` or set SHIPYARD_ENDPOINT/ACCESS_KEY/SECRET_KEY"
        )
    return ShipyardClient(endpoint, access, secret)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _accelerator_env(args: argparse.Namespace) -> dict[str, str]:
    env = {"ACCELERATORS": args.accelerators} if args.accelerators else {}
    if args.mock_accelerator_config:
        env["MOCK_ACCELERATOR_CONFIG"] = str(args.mock_accelerator_config.resolve())
    return env


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
    if args.mount:
        body["vfolder_names"] = args.mount
    if args.batch:
        body["session_type"] = "SESSION_TYPE_BATCH"
        body["startup_command"] = args.batch
    if args.client_token:
        body["client_token"] = args.client_token
    async with _client(args) as client:
        _print(await client.create_session(**body))
    return 0


async def cmd_session_exec(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        mode = "batch" if args.batch else "query"
        result = await client.execute(args.session_id, args.code, mode=mode)
    sys.stdout.write(result.get("stdout", ""))
    sys.stderr.write(result.get("stderr", ""))
    return int(result.get("exit_code", 0))


async def cmd_session_info(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.get_session(args.session_id))
    return 0


async def cmd_session_list(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.list_sessions())
    return 0


async def cmd_session_destroy(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.destroy_session(args.session_id, forced=args.forced))
    return 0


async def cmd_vfolder_create(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.create_vfolder(args.name))
    return 0


async def cmd_vfolder_list(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.list_vfolders())
    return 0


async def cmd_vfolder_delete(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        await client.delete_vfolder(args.vfolder_id)
    return 0


async def cmd_whoami(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        _print(await client.whoami())
    return 0


def _bytes(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    sub = parser.add_subparsers(required=True)

    up = sub.add_parser("up", help="start the whole platform on this machine")
    up.add_argument("--port", type=int, default=8090, help="edge port (REST, gRPC, gRPC-Web)")
    up.add_argument("--database-url", help="PostgreSQL DSN (default: local server or private one)")
    up.add_argument("--redis-url", help="Redis URL (default: local server or private one)")
    up.add_argument("--otlp-endpoint", help="host:port of an OTLP/gRPC trace collector")
    up.add_argument("--accelerators", help="agent accelerator plugins, e.g. cuda or mock")
    up.add_argument("--mock-accelerator-config", type=Path, help="the mock plugin's devices file")
    up.set_defaults(func=cmd_up)

    session = sub.add_parser("session", help="compute sessions").add_subparsers(required=True)
    create = session.add_parser("create")
    create.add_argument("--name")
    create.add_argument("--cpu")
    create.add_argument("--mem", help="e.g. 512m, 2g")
    create.add_argument("--mount", action="append", help="vfolder name (repeatable)")
    create.add_argument(
        "--resource", action="append", help="SLOT=AMOUNT, e.g. cuda.device=1 (repeatable)"
    )
    create.add_argument("--batch", metavar="COMMAND", help="batch session running COMMAND")
    create.add_argument("--client-token")
    create.add_argument("--wait", action="store_true", help="block until RUNNING")
    create.set_defaults(func=cmd_session_create)
    ex = session.add_parser("exec")
    ex.add_argument("session_id")
    ex.add_argument("code")
    ex.add_argument("--batch", action="store_true", help="run CODE as a shell command")
    ex.set_defaults(func=cmd_session_exec)
    for name, func in (("info", cmd_session_info), ("destroy", cmd_session_destroy)):
        p = session.add_parser(name)
        p.add_argument("session_id")
        if name == "destroy":
            p.add_argument("--forced", action="store_true")
        p.set_defaults(func=func)
    session.add_parser("list").set_defaults(func=cmd_session_list)

    vfolder = sub.add_parser("vfolder", help="virtual folders").add_subparsers(required=True)
    vc = vfolder.add_parser("create")
    vc.add_argument("name")
    vc.set_defaults(func=cmd_vfolder_create)
    vfolder.add_parser("list").set_defaults(func=cmd_vfolder_list)
    vd = vfolder.add_parser("delete")
    vd.add_argument("vfolder_id")
    vd.set_defaults(func=cmd_vfolder_delete)
    sub.add_parser("whoami").set_defaults(func=cmd_whoami)
    return parser


if __name__ == "__main__":
    main()
