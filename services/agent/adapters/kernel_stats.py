"""What a kernel used, read from where the backend keeps it: the kernel's cgroups and /proc for
the process backend, the engine's stats for containers.

cgroup v2 groups carry CPU, memory and I/O counters themselves. Kernels in v1 groups (memory,
cpu, pids controllers only) get CPU time and I/O from /proc for the group's processes (exited
children count when their parent waited for them) and memory from the memory group.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from services.agent.domain.model import KernelUsage

_TICKS = os.sysconf("SC_CLK_TCK")


def process_usage(kernel_id: str, groups: list[Path], pid: int) -> KernelUsage:
    """A process-backend kernel's usage from its cgroups (or, without any, its runner's tree)."""
    v2 = next((g for g in groups if (g / "cgroup.controllers").exists()), None)
    pids = _members(groups) or _tree(pid)
    if v2 is not None:
        cpu = _keyed(_read(v2 / "cpu.stat")).get("usage_usec", 0) / 1_000_000
        mem = _int(_read(v2 / "memory.current"))
        reads, writes = _io_v2(_read(v2 / "io.stat"))
    else:
        cpu = sum(_proc_cpu(p) for p in pids)
        memory = next((g for g in groups if (g / "memory.usage_in_bytes").exists()), None)
        mem = (
            _int(_read(memory / "memory.usage_in_bytes"))
            if memory is not None
            else sum(_proc_rss(p) for p in pids)
        )
        io = [_keyed(_read(Path(f"/proc/{p}/io"))) for p in pids]
        reads = sum(int(i.get("read_bytes", 0)) for i in io)
        writes = sum(int(i.get("write_bytes", 0)) for i in io)
    return KernelUsage(
        kernel_id=kernel_id,
        cpu_seconds=float(cpu),
        mem_bytes=mem,
        io_read_bytes=int(reads),
        io_write_bytes=int(writes),
    )


def docker_usage(kernel_id: str, stats: Mapping[str, Any]) -> KernelUsage:
    """A container's usage from the engine's one-shot stats (Docker and Podman's Docker API)."""
    cpu_ns = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0
    memory = stats.get("memory_stats") or {}
    entries = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    totals = {"read": 0, "write": 0}
    for entry in entries:
        op = str(entry.get("op", "")).lower()
        if op in totals:
            totals[op] += int(entry.get("value") or 0)
    return KernelUsage(
        kernel_id=kernel_id,
        cpu_seconds=int(cpu_ns) / 1e9,
        mem_bytes=int(memory.get("usage") or 0),
        io_read_bytes=totals["read"],
        io_write_bytes=totals["write"],
    )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else 0


def _keyed(text: str) -> dict[str, float]:
    """ "key value" or "key: value" lines."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        key, _, value = line.replace(":", " ").partition(" ")
        with contextlib.suppress(ValueError, IndexError):
            found[key] = float(value.split()[0])  # "1234 kB": the number
    return found


def _io_v2(text: str) -> tuple[int, int]:
    reads = writes = 0
    for line in text.splitlines():
        for part in line.split()[1:]:
            key, _, value = part.partition("=")
            if key == "rbytes":
                reads += _int(value)
            elif key == "wbytes":
                writes += _int(value)
    return reads, writes


def _members(groups: Iterable[Path]) -> list[int]:
    for group in groups:
        text = _read(group / "cgroup.procs")
        if text:
            return [int(p) for p in text.split() if p.isdigit()]
    return []


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if len(fields) > 1:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ... (field 3 onwards)."""
    text = _read(Path(f"/proc/{pid}/stat"))
    return text.rpartition(")")[2].split() if text else []


def _proc_cpu(pid: int) -> float:
    fields = _stat_fields(pid)  # utime, stime, cutime, cstime are fields 14-17
    if len(fields) < 15:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / _TICKS


def _proc_rss(pid: int) -> int:
    return int(_keyed(_read(Path(f"/proc/{pid}/status"))).get("VmRSS", 0)) * 1024
