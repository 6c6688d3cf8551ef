"""Session start and execute figures of issue 9, measured through the edge of a running platform.

    .venv/bin/python -m bench.path_start [--sequential 50] [--c4 200] [--container 20]
        [--kernel-pool N]

`measure(platform)` drives the given (process-backend) platform and, for the container row,
starts a second platform whose agent uses the container backend (`n/a` when no engine answers
or its image is missing). Run on its own, this module starts the process-backend platform
itself and prints the same lines. Figures are wall-clock milliseconds on this machine; on stderr
it also prints the platform's CPU time per sequential start (every platform process and the
kernels they reaped, so the pool's background refills count too). `--kernel-pool` sets the
agent's `KERNEL_POOL_SIZE` (default: the agent's own default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import psutil

from bench.bench_platform import bench_platform, superadmin_client
from bench.sessions import drive, pct
from cli.engine import choose_backend
from cli.platform import Platform

WARM_UP = 3  # sessions run first and not counted: imports, caches, connection set-up
EXECUTES = 3  # `print(6*7)` calls per session (`bench.sessions.one_session`'s default)


async def _process_rows(
    platform: Platform, sequential: int, c4: int
) -> tuple[list[float], list[float], list[float]]:
    async with superadmin_client(platform) as client:
        await drive(client, WARM_UP, 1)
        cpu_before = _platform_cpu(platform)
        seq_ms, exec_ms = await drive(client, sequential, 1)
        per_start = (_platform_cpu(platform) - cpu_before) / max(1, sequential) * 1000
        print(f"cpu per sequential start ms: {per_start:.1f}", file=sys.stderr)
        if exec_ms:  # one session at a time: its executes are in a row, the first starting it
            first = exec_ms[::EXECUTES]
            print(f"first execute per session ms: p50 {pct(first, 0.5):.1f}", file=sys.stderr)
        c4_ms, _ = await drive(client, c4, 4)
    return seq_ms, c4_ms, exec_ms


def _platform_cpu(platform: Platform) -> float:
    """CPU seconds of the platform's processes, with those of the children they have reaped."""
    total = 0.0
    for proc in platform.processes.values():
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(proc.pid).cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


async def _container_p99(sessions: int) -> str:
    """create→RUNNING p99 on a platform of its own whose agent runs containers, or `n/a`."""
    try:
        backend, detail = await choose_backend("container")
    except Exception as exc:  # no engine answers and none can be started
        print(f"container backend: n/a ({exc})", file=sys.stderr)
        return "n/a"
    async with bench_platform(agent_env={"BACKEND": backend, "DOCKER_HOST": detail}) as platform:
        try:
            async with superadmin_client(platform) as client:
                await drive(client, 1, 1)  # the first container start may still load the image
                ms, _ = await drive(client, sessions, 1)
        except RuntimeError as exc:  # e.g. the image is not present: the session never runs
            print(f"container backend: n/a ({exc})"[:300], file=sys.stderr)
            return "n/a"
    return f"{pct(ms, 0.99):.1f}"


async def measure(
    platform: Platform, *, sequential: int = 50, c4: int = 200, container: int = 20
) -> list[tuple[str, str]]:
    """The five start/execute rows of `bench.paths`, as (label, value) pairs."""
    seq_ms, c4_ms, exec_ms = await _process_rows(platform, sequential, c4)
    container_p99 = await _container_p99(container) if container > 0 else "n/a"
    return [
        ("start sequential p50 ms", _figure(seq_ms, 0.5, 1)),
        ("start sequential p99 ms", _figure(seq_ms, 0.99, 1)),
        ("start c4 p99 ms", _figure(c4_ms, 0.99, 1)),
        ("start container p99 ms", container_p99),
        ("execute p50 ms", _figure(exec_ms, 0.5, 2)),
    ]


def _figure(ms: list[float], q: float, digits: int) -> str:
    """A percentile, or `skipped` for a row asked to run no sessions (e.g. `--c4 0`)."""
    return f"{pct(ms, q):.{digits}f}" if ms else "skipped"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequential", type=int, default=50)
    parser.add_argument("--c4", type=int, default=200)
    parser.add_argument("--container", type=int, default=20, help="0: skip the container row")
    parser.add_argument("--kernel-pool", type=int, default=None, help="the agent's pool size")
    args = parser.parse_args()
    pool = {} if args.kernel_pool is None else {"KERNEL_POOL_SIZE": str(args.kernel_pool)}
    async with bench_platform(agent_env={"BACKEND": "process"} | pool) as platform:
        rows = await measure(
            platform, sequential=args.sequential, c4=args.c4, container=args.container
        )
    for label, value in rows:
        print(f"{label}: {value}")


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
