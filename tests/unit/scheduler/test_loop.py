from __future__ import annotations

import asyncio
import contextlib

from libs.core.errors import Unavailable
from services.scheduler.service.decision_stats import DecisionStats
from services.scheduler.service.loop import SchedulerLoop
from services.scheduler.service.schedule import CycleReport
from tests.unit.scheduler.factories import wait_until


class FakeCycle:
    def __init__(self) -> None:
        self.runs = 0
        self.stats = DecisionStats()
        self.fail_next: Exception | None = None
        self.more_for = 0  # this many first cycles report a full batch

    async def run_once(self) -> CycleReport:
        self.runs += 1
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return CycleReport(more=self.runs <= self.more_for)


async def test_cycles_run_on_triggers_only_while_active_and_survive_failures():
    cycle, active = FakeCycle(), {"on": False}
    # A long tick so that only triggers start cycles here.
    loop = SchedulerLoop(
        cycle=cycle, is_active=lambda: active["on"], tick_interval=3600, coalesce_delay=0
    )
    task = asyncio.create_task(loop.run())
    try:
        loop.trigger()
        await asyncio.sleep(0.05)
        assert cycle.runs == 0

        active["on"] = True
        cycle.fail_next = Unavailable("registry down")
        loop.trigger()
        await wait_until(lambda: cycle.runs == 1)
        loop.trigger()
        await wait_until(lambda: cycle.runs == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_tick_runs_cycles_without_triggers():
    cycle = FakeCycle()
    loop = SchedulerLoop(cycle=cycle, is_active=lambda: True, tick_interval=0.01)
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: cycle.runs >= 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_cycle_that_filled_its_batch_is_followed_by_another_without_a_trigger():
    cycle = FakeCycle()
    cycle.more_for = 3
    loop = SchedulerLoop(cycle=cycle, is_active=lambda: True, tick_interval=3600, coalesce_delay=0)
    task = asyncio.create_task(loop.run())
    try:
        loop.trigger()
        await wait_until(lambda: cycle.runs == 4)
        await asyncio.sleep(0.05)
        assert cycle.runs == 4  # the fourth cycle emptied the queue: no more runs
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_change_after_a_quiet_spell_is_decided_at_once_and_a_burst_is_coalesced():
    cycle = FakeCycle()
    # A coalescing delay far longer than the test: only the leading edge can run a cycle.
    loop = SchedulerLoop(
        cycle=cycle, is_active=lambda: True, tick_interval=3600, coalesce_delay=3600
    )
    task = asyncio.create_task(loop.run())
    try:
        loop.trigger()
        await wait_until(lambda: cycle.runs == 1)
        loop.trigger()  # right after a cycle: part of a burst, waits for the rest of it
        await asyncio.sleep(0.05)
        assert cycle.runs == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_change_during_a_burst_waits_only_for_the_rest_of_the_coalescing_delay():
    cycle, waits = FakeCycle(), []

    async def record(delay: float) -> None:
        waits.append(delay)

    loop = SchedulerLoop(
        cycle=cycle, is_active=lambda: True, tick_interval=3600, coalesce_delay=3600, sleep=record
    )
    task = asyncio.create_task(loop.run())
    try:
        loop.trigger()
        await wait_until(lambda: cycle.runs == 1)
        await asyncio.sleep(0.2)
        loop.trigger()  # within the delay: coalesced, but 0.2 s of it have passed already
        await wait_until(lambda: cycle.runs == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(waits) == 1
    assert waits[0] <= 3600 - 0.2
