"""Kernel stats as the registry keeps them, and the utilization idle check (pure).

Agents report cumulative CPU time, memory in use, I/O and accelerator utilization with every
heartbeat; the registry keeps a short history per kernel. A resource group's `IdleUtilization`
policy says which average utilization over a window keeps a session alive
(docs/idle-and-usage.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from libs.core.slots import CPU, MEM, ResourceSlots

UTILIZATION = "utilization"
RESOURCES = ("cpu", "mem", "cuda")


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelStats:
    kernel_id: str
    agent_id: str
    received_at: datetime  # when the registry heard it (one clock for every agent)
    cpu_seconds: float = 0.0
    mem_bytes: int = 0
    io_read_bytes: int = 0
    io_write_bytes: int = 0
    accelerator_util: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kernel_id": self.kernel_id,
            "agent_id": self.agent_id,
            "received_at": self.received_at.isoformat(),
            "cpu_seconds": self.cpu_seconds,
            "mem_bytes": self.mem_bytes,
            "io_read_bytes": self.io_read_bytes,
            "io_write_bytes": self.io_write_bytes,
            "accelerator_util": dict(self.accelerator_util),
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> KernelStats:
        return KernelStats(
            kernel_id=str(raw["kernel_id"]),
            agent_id=str(raw.get("agent_id", "")),
            received_at=datetime.fromisoformat(str(raw["received_at"])),
            cpu_seconds=float(raw.get("cpu_seconds", 0.0)),
            mem_bytes=int(raw.get("mem_bytes", 0)),
            io_read_bytes=int(raw.get("io_read_bytes", 0)),
            io_write_bytes=int(raw.get("io_write_bytes", 0)),
            accelerator_util={k: float(v) for k, v in raw.get("accelerator_util", {}).items()},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UtilizationPolicy:
    window: timedelta
    initial_grace: timedelta = timedelta(0)
    thresholds: Mapping[str, float] = field(default_factory=dict)  # percent per resource
    any_under: bool = False  # "or": one missed threshold suffices; "and": all must be missed

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.total_seconds(),
            "initial_grace": self.initial_grace.total_seconds(),
            "thresholds": dict(self.thresholds),
            "operator": "or" if self.any_under else "and",
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any] | None) -> UtilizationPolicy | None:
        if not raw:
            return None
        return UtilizationPolicy(
            window=timedelta(seconds=float(raw["window"])),
            initial_grace=timedelta(seconds=float(raw.get("initial_grace", 0))),
            thresholds={k: float(v) for k, v in raw.get("thresholds", {}).items()},
            any_under=raw.get("operator") == "or",
        )


def averages(
    history: Mapping[str, Sequence[KernelStats]],
    slots: Mapping[str, ResourceSlots],
    window: timedelta,
    now: datetime,
) -> dict[str, float] | None:
    """Average utilization in percent per resource over the window, across the kernels; None
    when some kernel was not measured across the whole window yet (not enough data)."""
    per_kernel: list[dict[str, float]] = []
    start = now - window
    for kernel_id, samples in history.items():
        inside = sorted((s for s in samples if s.received_at >= start), key=_when)
        before = [s for s in samples if s.received_at < start]
        if not inside or not before:
            return None
        first, last = max(before, key=_when), inside[-1]
        allocated = slots.get(kernel_id, ResourceSlots())
        found: dict[str, float] = {}
        span = (last.received_at - first.received_at).total_seconds()
        cores = float(allocated[CPU])
        if cores > 0 and span > 0:
            used = max(last.cpu_seconds - first.cpu_seconds, 0.0)
            found["cpu"] = 100.0 * used / span / cores
        mem = float(allocated[MEM])
        if mem > 0:
            found["mem"] = 100.0 * sum(s.mem_bytes for s in inside) / len(inside) / mem
        if any(name.startswith("cuda") and allocated[name] > 0 for name in allocated):
            found["cuda"] = sum(s.accelerator_util.get("cuda", 0.0) for s in inside) / len(inside)
        per_kernel.append(found)
    if not per_kernel:
        return None
    names = set().union(*per_kernel)
    return {n: sum(k.get(n, 0.0) for k in per_kernel) / len(per_kernel) for n in sorted(names)}


def under_used(policy: UtilizationPolicy, measured: Mapping[str, float]) -> bool:
    """Whether the measured averages miss the policy's thresholds (resources not measured,
    e.g. accelerators a session does not have, are not judged)."""
    judged = {n: measured[n] < t for n, t in policy.thresholds.items() if n in measured}
    if not judged:
        return False
    return any(judged.values()) if policy.any_under else all(judged.values())


def _when(stats: KernelStats) -> datetime:
    return stats.received_at
