"""When cycles run: on watch changes (coalesced) and on a periodic tick, only while active.

Coalescing is leading-edge: a change after a quiet spell (no cycle within `coalesce_delay`) starts
a cycle at once, so a lone enqueue waits for nothing; changes arriving sooner after a cycle (a
burst) wait until `coalesce_delay` has passed since it, so that one cycle decides on all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from libs.core.errors import ShipyardError
from services.scheduler.service.schedule import ScheduleCycle

log = logging.getLogger(__name__)


class SchedulerLoop:
    def __init__(
        self,
        *,
        cycle: ScheduleCycle,
        is_active: Callable[[], bool],
        tick_interval: float = 1.0,
        coalesce_delay: float = 0.01,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._cycle = cycle
        self._is_active = is_active
        self._tick = tick_interval
        self._coalesce = coalesce_delay
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._last_cycle = float("-inf")  # event-loop time the last cycle ended

    def trigger(self) -> None:
        """Ask for a cycle soon; any number of triggers before it starts make one cycle."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick):
                    await self._wake.wait()
                since = asyncio.get_running_loop().time() - self._last_cycle
                if since < self._coalesce:
                    # In a burst: let more changes (many enqueues) land before deciding on them,
                    # until `coalesce_delay` after the last cycle: a change that came some time
                    # after it waits only the rest, not a whole delay counted from its arrival.
                    await self._sleep(self._coalesce - since)
                else:
                    await asyncio.sleep(0)  # what the watch already received lands first
            self._wake.clear()
            # Only the leader with a synced cache decides; anything else would act on stale data.
            if not self._is_active():
                continue
            try:
                report = await self._cycle.run_once()
            except ShipyardError as exc:
                log.warning("scheduling cycle failed: %s (%s)", exc.message, exc.reason)
                continue
            except Exception:
                log.exception("scheduling cycle failed unexpectedly")
                continue
            finally:
                self._last_cycle = asyncio.get_running_loop().time()
            if report.more:
                self._wake.set()  # the rest of the queue, next (the watch's news in between)
            if report.bound or report.conflicts:
                log.info(
                    "cycle: %d bound, %d conflicts, %d unschedulable; %s",
                    len(report.bound),
                    len(report.conflicts),
                    len(report.unschedulable),
                    self._cycle.stats.summary(),
                )
