"""What this node can offer to kernels: CPU cores and memory.

`compute_resources` is pure; `read_node_facts` reads the OS (stdlib only, so the domain stays free
of third-party imports). The agent's own cgroup limits count: a container or a systemd slice may
give it less than the whole machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from libs.core.errors import InvalidArgument

_PROC_CGROUP = Path("/proc/self/cgroup")
_PROC_MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeResources:
    cpu: Decimal
    mem_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFacts:
    """Raw observations; None means "no limit found"."""

    cpu_count: int
    cpu_quota: Decimal | None
    mem_total: int
    mem_limit: int | None


def compute_resources(
    facts: NodeFacts, *, cpu: Decimal | None = None, mem_bytes: int | None = None
) -> NodeResources:
    """The capacity to advertise: configured overrides win, else the tightest observed limit."""
    if cpu is not None and cpu <= 0:
        raise InvalidArgument(f"cpu override must be positive, got {cpu}")
    if mem_bytes is not None and mem_bytes <= 0:
        raise InvalidArgument(f"memory override must be positive, got {mem_bytes}")
    detected_cpu = Decimal(facts.cpu_count)
    if facts.cpu_quota is not None:
        detected_cpu = min(detected_cpu, facts.cpu_quota)
    detected_mem = facts.mem_total
    if facts.mem_limit is not None:
        detected_mem = min(detected_mem, facts.mem_limit)
    return NodeResources(
        cpu=cpu if cpu is not None else detected_cpu,
        mem_bytes=mem_bytes if mem_bytes is not None else detected_mem,
    )


def detect_resources(*, cpu: Decimal | None = None, mem_bytes: int | None = None) -> NodeResources:
    return compute_resources(read_node_facts(), cpu=cpu, mem_bytes=mem_bytes)


def read_node_facts() -> NodeFacts:
    return NodeFacts(
        cpu_count=len(os.sched_getaffinity(0)),
        cpu_quota=_cpu_quota(),
        mem_total=os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
        mem_limit=_mem_limit(),
    )


def own_cgroup_dir(controller: str = "") -> Path | None:
    """This process's cgroup directory for a v1 `controller`, or the v2 one when it is empty."""
    try:
        lines = _PROC_CGROUP.read_text().splitlines()
        mounts = _PROC_MOUNTINFO.read_text().splitlines()
    except OSError:
        return None
    own = None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (names == "" and not controller) or (controller and controller in names.split(",")):
            own = path
    if own is None:
        return None
    for line in mounts:
        pre, _, post = line.partition(" - ")
        fields, kind = pre.split(), post.split()
        if len(fields) < 5 or len(kind) < 3:
            continue
        fstype, options, root, target = kind[0], kind[2].split(","), fields[3], fields[4]
        wanted = controller in options if controller else True
        if fstype == ("cgroup" if controller else "cgroup2") and wanted:
            # Inside a container the mount's root is our own cgroup: strip it.
            rel = own[len(root) :] if own.startswith(root) and root != "/" else own
            return Path(target) / rel.lstrip("/")
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.lstrip("-").isdigit() else None  # "max" in cgroup v2


def _mem_limit() -> int | None:
    if (v1 := own_cgroup_dir("memory")) is not None:
        return _read_int(v1 / "memory.limit_in_bytes")
    if (v2 := own_cgroup_dir()) is not None:
        return _read_int(v2 / "memory.max")
    return None


def _cpu_quota() -> Decimal | None:
    if (v1 := own_cgroup_dir("cpu")) is not None:
        quota, period = _read_int(v1 / "cpu.cfs_quota_us"), _read_int(v1 / "cpu.cfs_period_us")
    elif (v2 := own_cgroup_dir()) is not None:
        try:
            raw_quota, raw_period = (v2 / "cpu.max").read_text().split()
        except (OSError, ValueError):
            return None
        quota = int(raw_quota) if raw_quota.isdigit() else None
        period = int(raw_period) if raw_period.isdigit() else None
    else:
        return None
    if quota is None or quota <= 0 or not period:
        return None
    return Decimal(quota) / Decimal(period)
