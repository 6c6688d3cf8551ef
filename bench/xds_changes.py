"""What a change costs the edge's control plane (CPU in the gateway process, no Envoy): build
the state, add run-time routes, change a cluster's replicas.

    .venv/bin/python -m bench.xds_changes [--changes 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pydantic import SecretStr

from gateway.config import EdgeSettings
from gateway.xds.state import ControlPlaneState

DESCRIPTORS = Path(__file__).resolve().parents[1] / "build" / "descriptors.binpb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    settings = EdgeSettings(internal_token=SecretStr("bench"), descriptor_set=DESCRIPTORS)
    start = time.perf_counter()
    ControlPlaneState(settings)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    state = ControlPlaneState(settings)
    warm = time.perf_counter() - start
    state.add_cluster("apps", "127.0.0.1:9")
    start = time.perf_counter()
    for i in range(args.changes):
        state.add_route(f"app-{i}", f"/apps/{i}/", "apps")
    add_route = (time.perf_counter() - start) / args.changes
    start = time.perf_counter()
    for i in range(args.changes):
        state.set_replicas("registry", f"127.0.0.1:{7000 + i},127.0.0.1:8000")
    replicas = (time.perf_counter() - start) / args.changes
    print(f"state build: cold {cold * 1e3:.0f} ms, warm {warm * 1e3:.0f} ms")
    print(f"add_route: {add_route * 1e3:.1f} ms per change ({args.changes} changes)")
    print(f"set_replicas: {replicas * 1e3:.1f} ms per change ({args.changes} changes)")


if __name__ == "__main__":
    main()
