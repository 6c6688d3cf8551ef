"""Hop 9 alone: a new kernel's first cell, which waits for its Jupyter kernel to start.

    .venv/bin/python -m bench.first_cell [--sessions 6] [--cpu 0.25]

Drives a ProcessBackend with query mode on Jupyter in this process (no platform, no pool): for
each session one create at `--cpu`, one `print(6*7)`, one destroy. Prints the first cell's wall
time (ms) and how many CFS periods of the kernel's cgroup were throttled by then (`cpu.stat`,
cgroup v1: `nr_throttled` of `nr_periods`, which counts only periods with a quota in force).
Needs what the process backend needs (bwrap; root for cgroups) and python3-ipykernel.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.model import ExecMode, KernelSpec


def _cpu_stat(pid: int, kernel_id: str) -> dict[str, int]:
    """The kernel's own cgroup v1 cpu.stat (empty without one)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "cpu" in names.split(",") and path.endswith(f"/{kernel_id}"):
            stat = Path("/sys/fs/cgroup/cpu", path.lstrip("/"), "cpu.stat").read_text()
            return {k: int(v) for k, v in (row.split() for row in stat.splitlines())}
    return {}


async def _run(sessions: int, cpu: Decimal) -> None:
    backend = ProcessBackend(Path(tempfile.mkdtemp()) / "kernels", grace=2.0, jupyter=True)
    first_ms: list[float] = []
    throttled: list[str] = []
    try:
        for _ in range(sessions):
            kernel_id = f"k-{uuid.uuid4().hex[:12]}"
            spec = KernelSpec(
                kernel_id=kernel_id, session_id="s", image="python", cpu=cpu, mem_bytes=1 << 28
            )
            handle = await backend.create(spec)
            started = time.perf_counter()
            got = await backend.execute(kernel_id, ExecMode.QUERY, "print(6*7)", 60)
            first_ms.append((time.perf_counter() - started) * 1000)
            if got.stdout != "42\n":
                raise RuntimeError(f"unexpected output: {got}")
            stat = _cpu_stat(handle.pid, kernel_id)
            throttled.append(f"{stat.get('nr_throttled', '-')}/{stat.get('nr_periods', '-')}")
            await backend.destroy(kernel_id, "done")
    finally:
        await backend.close()
    print(f"first cell ms: median {statistics.median(first_ms):.1f}")
    print(f"  each: {' '.join(f'{ms:.0f}' for ms in first_ms)}")
    print(f"throttled/periods by then: {' '.join(throttled)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--cpu", type=Decimal, default=Decimal("0.25"))
    args = parser.parse_args()
    asyncio.run(_run(args.sessions, args.cpu))


if __name__ == "__main__":
    main()
