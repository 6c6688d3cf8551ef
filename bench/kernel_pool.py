"""Hop 9 alone: the process backend's kernel start, with and without pre-started kernels.

    .venv/bin/python -m bench.kernel_pool [--sessions 10] [--pool 2] [--jupyter]

Drives a PooledProcessBackend in this process (no platform): for each session one create, one
`print(6*7)`, one destroy, then a wait until the pool is full again, so that every create finds
it as a sequential stream of sessions would at best. Prints the create latency (wall clock, ms)
and the CPU per session: this process's (the agent's side, refills included) and the kernel's
own, read from its processes just before the destroy (a pool kernel's start included, since it
is the same processes). Needs what the process backend needs (bwrap; root for cgroups).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psutil

from bench.sessions import pct
from services.agent.adapters.pooled_backend import PooledProcessBackend
from services.agent.domain.model import ExecMode, KernelSpec


def _own_cpu() -> float:
    own, reaped = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def _kernel_cpu(root_pid: int) -> float:
    """CPU seconds of every process in the kernel's process tree (bwrap, runner, Jupyter)."""
    total = 0.0
    with_children = [psutil.Process(root_pid)]
    with_children += with_children[0].children(recursive=True)
    for proc in with_children:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


async def run(sessions: int, pool: int, jupyter: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="sy-pool-bench-") as tmp:
        backend = PooledProcessBackend(Path(tmp), pool_size=pool, jupyter=jupyter, grace=2.0)
        if pool and not backend.start_pool():
            raise SystemExit("no pre-started kernels on this host (cgroup v1 is needed)")
        create_ms: list[float] = []
        kernel_s: list[float] = []
        try:
            while backend.pooled() < pool:  # noqa: ASYNC110 - the pool fills in the background
                await asyncio.sleep(0.05)
            before = _own_cpu()
            for _ in range(sessions):
                kid = f"k-{uuid.uuid4().hex[:12]}"
                spec = KernelSpec(
                    kernel_id=kid, session_id="s", image="", cpu=Decimal(1), mem_bytes=512 << 20
                )
                started = time.perf_counter()
                handle = await backend.create(spec)
                create_ms.append((time.perf_counter() - started) * 1000)
                got = await backend.execute(kid, ExecMode.QUERY, "print(6*7)", 60)
                assert got.stdout == "42\n", got
                kernel_s.append(_kernel_cpu(handle.pid))
                await backend.destroy(kid, "user-requested")
                while backend.pooled() < pool:  # noqa: ASYNC110 - as above
                    await asyncio.sleep(0.05)
            agent_ms = (_own_cpu() - before) / sessions * 1000
        finally:
            await backend.close()
    print(f"pool {pool}, jupyter {jupyter}, {sessions} sessions")
    print(f"create p50 ms: {pct(create_ms, 0.5):.1f}  p99 ms: {pct(create_ms, 0.99):.1f}")
    print(f"agent cpu per session ms: {agent_ms:.1f}")
    print(f"kernel cpu per session ms (median): {statistics.median(kernel_s) * 1000:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--pool", type=int, default=2, help="0: every kernel starts fresh")
    parser.add_argument("--jupyter", action="store_true", help="query mode on Jupyter kernels")
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.pool, args.jupyter))


if __name__ == "__main__":
    main()
