"""Execute alone, through the edge: `print(6*7)` many times on one session of a started platform.

    .venv/bin/python -m bench.execute_loop [--calls 300]

Unlike `bench.path_start` (three executions per new session), this keeps one session and its
Jupyter kernel warm, so the figures are those of the execute path only. It prints the round
trip's p10/p50/p90 and, per platform process, the CPU time (user + system, from /proc) spent per
execution and, as `idle`, what the same process spends per execution's worth of wall time with
nothing to do (its background loops). The agent's and the edge's figures include their children:
the kernel's runner and Jupyter kernel, and Envoy.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.bench_platform import bench_platform, superadmin_client
from bench.proc_cpu import cpu_seconds
from bench.sessions import create_running, pct, timed_executes
from cli.platform import Platform

WARM_UP = 20  # the first execution waits for the Jupyter kernel to start


def _cpu(platform: Platform) -> dict[str, float]:
    return {
        name: cpu_seconds(proc.pid, children=name.startswith(("agent", "edge")))
        for name, proc in platform.processes.items()
    }


async def measure(calls: int) -> None:
    async with bench_platform() as platform, superadmin_client(platform) as client:
        sid = (await create_running(client))["session_id"]
        await timed_executes(client, sid, WARM_UP, [])
        before = _cpu(platform)
        took: list[float] = []
        await timed_executes(client, sid, calls, took)
        busy = _cpu(platform)
        await asyncio.sleep(sum(took) / 1000)
        idle = _cpu(platform)
        await client.destroy_session(sid)
    p10, p50, p90 = (pct(took, q) for q in (0.1, 0.5, 0.9))
    print(f"execute ms: p10 {p10:.2f}  p50 {p50:.2f}  p90 {p90:.2f}")
    for name, seconds in busy.items():
        per_call = (seconds - before[name]) / calls * 1000
        at_rest = (idle[name] - seconds) / calls * 1000
        print(f"CPU ms per execution, {name}: {per_call:.2f} (idle: {at_rest:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(measure(parser.parse_args().calls))


if __name__ == "__main__":
    main()
