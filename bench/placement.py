"""The scheduler's decision alone, in process: cost per placement against the number of agents.

    .venv/bin/python -m bench.placement [--agents 100,1000,5000,10000] [--sessions 20000]
        [--batch B]

For each N: N idle agents of 64 cores and 256 GiB in one resource group, M pending sessions of
0.25 core and 256 MiB, decided by one ScheduleCycle (FIFO, least-occupied) with a binder that
accepts everything, so no I/O is measured. Prints, per N, the placements per second of the
decision phase and the p50/p99 of one decision (docs/scheduler-scale.md). With --batch, the
queue is decided in cycles of B placements with reservations, the pending cleanup and
preemption wired as in the service, so the per-cycle work over the whole queue is counted.
Last, the scheduler's CPU time for the watch's echo of one 1,000-session bind at the largest N
(bench/placement_watch.py).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bench.placement_watch import watch_echo_cpu_ms
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
from services.scheduler.service.pending_cleanup import PendingCleanup
from services.scheduler.service.preempt import Preemption
from services.scheduler.service.reservations import Reservations
from services.scheduler.service.schedule import ScheduleCycle

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _AcceptAll:
    async def bind(
        self, placements: Sequence[Placement], unschedulable: Sequence[Unschedulable]
    ) -> list[BindResult]:
        del unschedulable  # every session fits here
        return [BindResult(session_id=p.session_id, bound=True) for p in placements]

    async def preempt(self, preemptions: Sequence[tuple[str, str]]) -> list[str]:
        del preemptions  # nothing is preempted here
        return []

    async def cancel_pending(self, cancellations: Sequence[Unschedulable]) -> list[str]:
        del cancellations  # nothing times out here
        return []


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


async def measure(n: int, m: int, batch: int | None = None) -> tuple[float, float, float]:
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=_agents(n), pending=_sessions(m)))
    fifo = get_policy("fifo")
    binder = _AcceptAll()
    now = lambda: datetime.now(UTC)  # noqa: E731
    cycle = ScheduleCycle(
        cache=cache,
        binder=binder,
        policy_for=lambda _group: fifo,
        selector=get_selector("least-occupied"),
        clock=time.monotonic,
        max_batch=batch or m,
        preemption=Preemption(binder, clock=time.monotonic, now=now) if batch else None,
        reservations=Reservations(wait_for=lambda _g: timedelta(minutes=10), now=now)
        if batch
        else None,
        cleanup=PendingCleanup(binder, timeout_for=lambda _g: timedelta(0), now=now)
        if batch
        else None,
    )
    started = time.perf_counter()
    bound = 0
    while True:
        report = await cycle.run_once()
        bound += len(report.bound)
        if not report.more:
            break
    elapsed = time.perf_counter() - started
    assert bound == m, f"only {bound} of {m} placed"
    return m / elapsed, cycle.stats.percentile(0.5) * 1e3, cycle.stats.percentile(0.99) * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.placement")
    parser.add_argument("--agents", default="100,1000,5000,10000")
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--batch", type=int, help="placements per cycle (default: all at once)")
    args = parser.parse_args()
    print("agents  placements/s  decision p50 ms  decision p99 ms")
    sizes = [int(x) for x in args.agents.split(",")]
    for n in sizes:
        rate, p50, p99 = await measure(n, args.sessions, args.batch)
        print(f"{n:>6}  {rate:>12.0f}  {p50:>15.3f}  {p99:>15.3f}")
    # What the scheduler pays again for what it bound: the watch's echo (placement_watch.py).
    echo = watch_echo_cpu_ms(_agents(max(sizes)), _sessions(1000))
    print(f"watch echo of a 1,000-session bind, scheduler CPU ms: {echo:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
