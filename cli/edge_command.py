"""`shipyard edge config`: print the edge's Envoy configuration (from EDGE_* variables).

The gateway prints it (`python -m gateway config`): the CLI does not import the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add_edge_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edge = sub.add_parser("edge", help="the Envoy edge").add_subparsers(required=True)
    config = edge.add_parser(
        "config",
        help="print the bootstrap and every xDS resource the edge serves, as JSON (also YAML)",
    )
    config.add_argument(
        "--static", action="store_true", help="the single static bootstrap (EDGE_XDS=false)"
    )
    config.set_defaults(func=cmd_edge_config)


async def cmd_edge_config(args: argparse.Namespace) -> int:
    argv = ["--static"] if args.static else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "config", *argv, cwd=ROOT
    )
    return await proc.wait()
