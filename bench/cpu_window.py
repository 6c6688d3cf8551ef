"""CPU time of the scheduler and the registry over a bench.scheduler run's placement window.

    .venv/bin/python -m bench.scheduler --agents 5000 --sessions 3000 --max-wait 15 &
    .venv/bin/python -m bench.cpu_window $! 3000 [--py-spy SECONDS --out PREFIX]

Finds the bench's registries and scheduler (its child processes), waits for the first SCHEDULED
move, then reads each one's CPU time (/proc/PID/stat) at the first move and when all N sessions
are SCHEDULED (or the bench stops), and prints each per 1,000 placements, and the whole
machine's busy time likewise (docs/scheduler-scale.md). Wall-clock rates
move with the machine's load; CPU per placement much less. With --py-spy, both processes are
sampled for that long from the first move (raw stacks to PREFIX-scheduler.txt and so on);
py-spy writes nothing if they stop before that, so give bench.scheduler a --max-wait to match.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import asyncpg

from bench.proc_cpu import cpu_seconds

_SCHEDULED = "SELECT count(*) FROM registry.sessions WHERE status_history ? 'SCHEDULED'"


def _children(pid: int) -> dict[str, int]:
    """The bench's services by module name (services.registry → registry)."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_text().split("\0")
        except OSError:
            continue
        if parent == pid and "-m" in cmdline:
            module = cmdline[cmdline.index("-m") + 1].removeprefix("services.")
            found.setdefault(module, []).append(int(entry.name))
    # A second registry (--starting-registries) started after the first: "registry-1".
    return {
        (name if i == 0 else f"{name}-{i}"): pid
        for name, pids in found.items()
        for i, pid in enumerate(sorted(pids))
    }


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, every process), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _database_url(pid: int) -> str:
    env = Path(f"/proc/{pid}/environ").read_text().split("\0")
    url = next(e.split("=", 1)[1] for e in env if e.split("=", 1)[0].endswith("DATABASE_URL"))
    return url.replace("+asyncpg", "")


async def _py_spy(pid: int, seconds: float | None, out: str) -> asyncio.subprocess.Process | None:
    if not seconds:
        return None
    return await asyncio.create_subprocess_exec(
        *(".venv/bin/py-spy", "record", "-p", str(pid), "--nonblocking", "--format", "raw"),
        *("--duration", str(max(1, round(seconds))), "-o", out),  # whole seconds only
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_window")
    parser.add_argument("bench_pid", type=int)
    parser.add_argument("sessions", type=int)
    parser.add_argument("--py-spy", type=float, metavar="SECONDS")
    parser.add_argument("--out", default="/tmp/cpu-window")
    args = parser.parse_args()
    procs = _children(args.bench_pid)
    while "scheduler" not in procs:  # started once every session is queued
        await asyncio.sleep(0.2)
        procs = _children(args.bench_pid)
    names = tuple(n for n in ("scheduler", "registry", "registry-1") if n in procs)
    conn = await asyncpg.connect(_database_url(procs["registry"]))
    try:
        while True:  # the window opens at the first SCHEDULED move
            if await conn.fetchval(_SCHEDULED):
                break
            await asyncio.sleep(0.05)
        started, before = time.monotonic(), {n: cpu_seconds(procs[n]) for n in names}
        machine_before = machine_after = _machine_busy()
        spies = [await _py_spy(procs[n], args.py_spy, f"{args.out}-{n}.txt") for n in names]
        done, after = 0, before
        # Until all are placed, or the bench stops its services (a --max-wait ran out).
        while done < args.sessions and time.monotonic() - started < 600:
            try:
                now = {n: cpu_seconds(procs[n]) for n in names}
                done = await conn.fetchval(_SCHEDULED)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                break
            if not all(now.values()):  # a service has stopped (0 for a process that is gone)
                break
            after, machine_after = now, _machine_busy()
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    wall = time.monotonic() - started
    per = {n: (after[n] - before[n]) / done * 1e6 for n in names}
    print(f"{done} SCHEDULED in {wall:.1f} s; load average {os.getloadavg()[0]:.1f}")
    for name in names:
        print(f"{name} CPU ms per 1,000 placements: {per[name]:.0f}")
    # Every process together (PostgreSQL, Redis, the fleet, anything else running): what
    # bounds placements/s on this machine's cores (docs/scheduler-scale.md).
    machine = (machine_after - machine_before) / done * 1e6
    print(f"machine CPU ms per 1,000 placements: {machine:.0f} ({os.cpu_count()} cores)")
    for spy in spies:
        if spy is not None:
            await spy.wait()


if __name__ == "__main__":
    asyncio.run(main())
