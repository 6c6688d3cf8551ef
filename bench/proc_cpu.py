"""CPU time a process has used so far (user + system, in seconds).

Wall-clock figures are noisy on a shared machine; the CPU a service spends per operation is
what a change to it moves.
"""

from __future__ import annotations

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
