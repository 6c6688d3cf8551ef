"""The edge's configuration as data, for people (`python -m gateway config`, which
`shipyard edge config` runs): the bootstrap Envoy starts from and every resource the control
plane serves it, with secrets redacted."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from betterproto2 import Casing
from pydantic import ValidationError

from gateway.config import EdgeSettings
from gateway.envoy_config import as_json, build_bootstrap
from gateway.xds import types as t
from gateway.xds.resources import bootstrap
from gateway.xds.state import ControlPlaneState

REDACTED = "<redacted>"
_SECTIONS = {
    t.LISTENER: "listeners",
    t.ROUTE: "routes",
    t.CLUSTER: "clusters",
    t.ENDPOINT: "endpoints",
    t.SECRET: "secrets",
    t.EXTENSION: "filter_configs",
}


def edge_config(
    settings: EdgeSettings, *, xds_socket: str = "<run_dir>/xds.sock"
) -> dict[str, Any]:
    """{"bootstrap", "resources": {kind: [...]}} (xDS) or {"bootstrap"} (static)."""
    token = settings.internal_token.get_secret_value()
    if not settings.xds:
        static: dict[str, Any] = _redact({"bootstrap": as_json(build_bootstrap(settings))}, token)
        return static
    state = ControlPlaneState(settings)
    served = {
        section: [_plain(a) for a in state.resources(type_url).values()]
        for type_url, section in _SECTIONS.items()
    }
    boot = as_json(bootstrap(settings, Path(xds_socket)))
    config: dict[str, Any] = _redact({"bootstrap": boot, "resources": served}, token)
    return config


def _plain(resource: t.Any) -> dict[str, Any]:
    message = resource.unpack()
    assert message is not None
    return {"@type": resource.type_url, **message.to_dict(casing=Casing.SNAKE)}


def _redact(value: Any, token: str) -> Any:
    """The internal token and private keys never reach a terminal."""
    if isinstance(value, dict):
        return {k: REDACTED if k == "private_key" else _redact(v, token) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, token) for v in value]
    if isinstance(value, str) and token and token in value:
        return value.replace(token, REDACTED)
    return value


def print_config(argv: list[str]) -> int:
    """Print the config of the edge EDGE_* describes; 2 on bad settings."""
    parser = argparse.ArgumentParser(prog="gateway config", description=__doc__)
    parser.add_argument(
        "--static", action="store_true", help="the single static bootstrap (EDGE_XDS=false)"
    )
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {}
    if args.static:
        overrides["xds"] = False
    if not os.environ.get("EDGE_INTERNAL_TOKEN"):
        overrides["internal_token"] = REDACTED  # printed redacted anyway
    try:
        settings = EdgeSettings(**overrides)  # type: ignore[arg-type]  # the rest from EDGE_*
        config = edge_config(settings)
    except (ValidationError, ValueError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    with contextlib.suppress(BrokenPipeError):  # e.g. piped into head
        sys.stdout.write(json.dumps(config, indent=2) + "\n")
    return 0
