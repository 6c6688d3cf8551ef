"""`shipyard edge config`: print the edge's Envoy configuration (from EDGE_* variables)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from pydantic import ValidationError

from gateway.config import EdgeSettings
from gateway.inspect import REDACTED, edge_config


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
    overrides: dict[str, object] = {}
    if args.static:
        overrides["xds"] = False
    if not os.environ.get("EDGE_INTERNAL_TOKEN"):
        overrides["internal_token"] = REDACTED  # printed redacted anyway
    try:
        settings = EdgeSettings(**overrides)  # type: ignore[arg-type]  # the rest from EDGE_*
        config = edge_config(settings)
    except (ValidationError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(BrokenPipeError):  # e.g. piped into head
        print(json.dumps(config, indent=2))
    return 0
