"""`shipyard up`: the whole platform on this machine, until told to stop."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from cli.engine import choose_backend
from cli.platform import Platform, PlatformConfig
from cli.stopping import until_told_to_stop


async def cmd_up(args: argparse.Namespace) -> int:
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        backend, detail = await choose_backend(args.backend, log_path=data_dir / "podman.log")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    agent_env = {"BACKEND": backend, **_accelerator_env(args)}
    if backend == "container":
        agent_env["DOCKER_HOST"] = detail
        print(f"kernel backend: container (engine at {detail})", flush=True)
    else:
        print(f"kernel backend: process ({detail})", flush=True)
    options: dict[str, Any] = {
        "database_url": args.database_url,
        "redis_url": args.redis_url,
        "otlp_endpoint": args.otlp_endpoint,
        "agent_env": agent_env,
        "tls": args.tls,
        "mtls": args.mtls,
        "host": args.host,
        "replicas": args.replicas,
        "starting_registries": args.starting_registries,
        **({"redis_prefix": args.redis_prefix} if args.redis_prefix else {}),
    }
    if args.free_ports:
        config = PlatformConfig.ephemeral(data_dir, **options)
    else:
        config = PlatformConfig(data_dir=data_dir, edge_port=args.port, **options)
    platform = Platform(config)
    print("starting Shipyard (logs in %s) ..." % (config.data_dir / "logs"), flush=True)
    await platform.start()
    assert platform.keypair is not None
    _write_client_env(config.data_dir, platform)
    lines = [
        "",
        "Shipyard is up.",
        f"  endpoint:    {platform.endpoint}   (REST /v1/..., gRPC and gRPC-Web on the same port)",
        f"  access key:  {platform.keypair.access_key}",
        f"  secret key:  {platform.keypair.secret_key}",
        f"  registry:    {platform.address('registry')}   (other hosts' AGENT_REGISTRY_ADDR)",
    ]
    if config.host != "127.0.0.1":
        token = config.data_dir / "internal-token"  # other hosts' agents need it too
        token.write_text(platform.internal_token + "\n")
        token.chmod(0o600)
        lines.append(f"  token:       {token}   (other hosts' AGENT_INTERNAL_TOKEN)")
    if config.mtls:
        lines.append(f"  mutual TLS:  CA in {platform.mtls_dir}; certificates for agents on other")
        lines.append(
            f"               hosts: scripts/dev-ca {platform.mtls_dir} agent <id> --san <ip>"
        )
    lines += ["  try:         .venv/bin/shipyard session create --wait", "Press Ctrl-C to stop."]
    print("\n".join(lines), flush=True)
    await until_told_to_stop()
    with contextlib.suppress(OSError):  # stdout may be a closed pipe by now
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
                **({"ca_file": str(platform.ca_file)} if platform.ca_file else {}),
            }
        )
    )
    path.chmod(0o600)


def _accelerator_env(args: argparse.Namespace) -> dict[str, str]:
    env = {"ACCELERATORS": args.accelerators} if args.accelerators else {}
    if args.mock_accelerator_config:
        env["MOCK_ACCELERATOR_CONFIG"] = str(args.mock_accelerator_config.resolve())
    return env
