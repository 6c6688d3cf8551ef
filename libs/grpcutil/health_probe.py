"""`python -m libs.grpcutil.health_probe <service>`: exit 0 when the service answers healthy.

The images' HEALTHCHECK (and anything else that needs a yes/no without a gRPC client). A service
is asked `grpc.health.v1.Health/Check` at its `<SERVICE>_BIND` address (a wildcard host is asked
on loopback); the edge, which serves no gRPC of its own, is asked Envoy's admin `/ready` on
`127.0.0.1:<EDGE_ADMIN_PORT>`. Exit 1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICES = ("auth", "registry", "scheduler", "storage", "agent")
_WILDCARDS = {"0.0.0.0", "[::]", "::", ""}


def probe_address(bind: str) -> str:
    """Where to reach a server bound at `bind`: a wildcard host is reached on loopback."""
    host, _, port = bind.rpartition(":")
    return f"127.0.0.1:{port}" if host in _WILDCARDS else bind


def check_grpc(address: str, timeout: float) -> str | None:
    """Why `address` is not serving, or None when it is."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            return f"{address}: {exc.code().name} {exc.details()}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def check_edge(admin_port: str, timeout: float) -> str | None:
    """Why Envoy's admin endpoint does not say the edge is ready, or None when it does."""
    url = f"http://127.0.0.1:{admin_port}/ready"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # a fixed loopback URL
            body = reply.read().decode(errors="replace").strip()
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"
    return None if body == "LIVE" else f"{url}: {body}"


def check(service: str, env: dict[str, str], timeout: float = 3.0) -> str | None:
    if service == "edge":
        return check_edge(env.get("EDGE_ADMIN_PORT", "9901"), timeout)
    if service not in SERVICES:
        return f"unknown service {service!r} (one of edge, {', '.join(SERVICES)})"
    bind = env.get(f"{service.upper()}_BIND")
    if not bind:  # the images always set it; elsewhere say where to look
        return f"{service.upper()}_BIND is not set"
    return check_grpc(probe_address(bind), timeout)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m libs.grpcutil.health_probe <service>")
    reason = check(sys.argv[1], dict(os.environ))
    if reason is not None:
        sys.exit(f"unhealthy: {reason}")


if __name__ == "__main__":
    main()
