"""CPU time a process has used so far (user + system, in seconds).

Wall-clock figures are noisy on a shared machine; the CPU a service spends per operation is
what a change to it moves.
"""

from __future__ import annotations

import asyncio
import contextlib

import psutil


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """0 for a process that is gone; with `children`, its descendants' time is added."""
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        process = psutil.Process(pid)
        for p in [process, *(process.children(recursive=True) if children else [])]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = p.cpu_times()
                total += times.user + times.system
    return total


async def settled(pids: list[int], *, busy_share: float = 0.05, timeout: float = 90.0) -> float:
    """Wait until `pids` (with their descendants) together use less than `busy_share` of a core
    over a second, or `timeout` seconds pass; the seconds waited. A load measured right after
    other work then does not share the machine with that work's aftermath."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    before = sum(cpu_seconds(pid, children=True) for pid in pids)
    while loop.time() - started < timeout:
        await asyncio.sleep(1.0)
        now = sum(cpu_seconds(pid, children=True) for pid in pids)
        if now - before < busy_share:
            break
        before = now
    return loop.time() - started
