"""The scheduler's decision alone, in process: cost per placement against the number of agents.

    .venv/bin/python -m bench.placement [--agents 100,1000,5000,10000] [--sessions 20000]

For each N: N idle agents of 64 cores and 256 GiB in one resource group, M pending sessions of
0.25 core and 256 MiB, decided by one ScheduleCycle (FIFO, least-occupied) with a binder that
accepts everything, so no I/O is measured. Prints, per N, the placements per second of the
decision phase and the p50/p99 of one decision (docs/scheduler-scale.md).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from libs.core.slots import ResourceSlots
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import (
    Agent,
    BindResult,
    ClusterSnapshot,
    PendingKernel,
    PendingSession,
    Placement,
    Unschedulable,
)
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.selectors import get_selector
from services.scheduler.service.schedule import ScheduleCycle

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _AcceptAll:
    async def bind(
        self, placements: Sequence[Placement], unschedulable: Sequence[Unschedulable]
    ) -> list[BindResult]:
        del unschedulable  # every session fits here
        return [BindResult(session_id=p.session_id, bound=True) for p in placements]


def _agents(n: int) -> tuple[Agent, ...]:
    capacity = ResourceSlots({"cpu": 64, "mem": 256 << 30})
    return tuple(
        Agent(
            agent_id=f"sim-{i:05d}",
            alive=True,
            resource_group="default",
            available=capacity,
            occupied=ResourceSlots(),
            backend="simulated",
        )
        for i in range(n)
    )


def _sessions(m: int) -> tuple[PendingSession, ...]:
    request = ResourceSlots({"cpu": "0.25", "mem": 256 << 20})
    return tuple(
        PendingSession(
            session_id=str(uuid.uuid4()),
            access_key="AKBENCH",
            resource_group="default",
            create_time=T0 + timedelta(milliseconds=i),
            kernels=(PendingKernel(kernel_id=str(uuid.uuid4()), requested=request),),
        )
        for i in range(m)
    )


async def measure(n: int, m: int) -> tuple[float, float, float]:
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=_agents(n), pending=_sessions(m)))
    fifo = get_policy("fifo")
    cycle = ScheduleCycle(
        cache=cache,
        binder=_AcceptAll(),
        policy_for=lambda _group: fifo,
        selector=get_selector("least-occupied"),
        clock=time.monotonic,
        max_batch=m,
    )
    started = time.perf_counter()
    report = await cycle.run_once()
    elapsed = time.perf_counter() - started
    assert len(report.bound) == m, f"only {len(report.bound)} of {m} placed"
    return m / elapsed, cycle.stats.percentile(0.5) * 1e3, cycle.stats.percentile(0.99) * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.placement")
    parser.add_argument("--agents", default="100,1000,5000,10000")
    parser.add_argument("--sessions", type=int, default=20000)
    args = parser.parse_args()
    print("agents  placements/s  decision p50 ms  decision p99 ms")
    for n in (int(x) for x in args.agents.split(",")):
        rate, p50, p99 = await measure(n, args.sessions)
        print(f"{n:>6}  {rate:>12.0f}  {p50:>15.3f}  {p99:>15.3f}")


if __name__ == "__main__":
    asyncio.run(main())
