"""The hot paths of Shipyard, each measured against its goal (docs/performance.md).

    .venv/bin/python -m bench.paths [--requests 4000] [--reads-only] [--authz http|grpc]

It starts its own platform (free ports, its own database and Redis prefix, the process backend)
and prints, as its last lines, one figure each: session start and execute latencies
(bench.path_start), GetSession req/s straight to one registry process, and the edge's req/s
ratios against straight gRPC (bench.path_reads). Load comes from h2load and curl, not from
Python. `--reads-only` skips the start and execute rows (printed as `skipped`); `--authz grpc`
makes the edge ask auth's gRPC Check instead of its HTTP one (EDGE_AUTHZ, for before/after).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from collections.abc import Awaitable, Callable

from bench import path_reads
from bench.bench_platform import bench_platform
from cli.platform import Platform

START_LABELS = (
    "start sequential p50 ms",
    "start sequential p99 ms",
    "start c4 p99 ms",
    "start container p99 ms",
    "execute p50 ms",
)

Measure = Callable[[Platform], Awaitable[list[tuple[str, str]]]]


def _start_measure() -> Measure | None:
    try:
        module = importlib.import_module("bench.path_start")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.path_start":
            raise
        return None
    measure: Measure = module.measure
    return measure


async def main(
    requests: int, *, reads_only: bool = False, authz: str = "http"
) -> list[tuple[str, str]]:
    async with bench_platform(
        agent_env={"BACKEND": "process"},
        # The edge's per-user bearer limit stays on (it is measured) but is never reached.
        edge_env={"BEARER_RATE_LIMIT": "100000000", "AUTHZ": authz},
    ) as platform:
        start = None if reads_only else _start_measure()
        if reads_only:
            lines = [(label, "skipped") for label in START_LABELS]
        elif start is None:
            lines = [(label, "n/a (bench.path_start missing)") for label in START_LABELS]
        else:
            lines = await start(platform)
        return lines + await path_reads.measure(platform, requests)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="calls per read load")
    parser.add_argument(
        "--reads-only", action="store_true", help="only the GetSession and edge ratio rows"
    )
    parser.add_argument(
        "--authz", choices=("http", "grpc"), default="http", help="the edge's Check transport"
    )
    args = parser.parse_args()
    lines = asyncio.run(main(args.requests, reads_only=args.reads_only, authz=args.authz))
    for label, value in lines:
        print(f"{label}: {value}")


if __name__ == "__main__":
    run()
