"""A start-up CPU boost: a kernel's start runs without its session's CPU quota, which comes the
moment the start is over, before any request that can run session code reaches the kernel, and
after `BOOST_LIMIT` seconds at the latest (docs/kernel-isolation.md, the cgroups row, says why no
session code runs meanwhile; docs/performance.md, "Why `execute p50` reads 60-70 ms", what it
saves).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# Seconds a boost lasts at most: a Jupyter kernel starts in ~0.6 s of CPU, ~2 s of wall time on
# a busy host; one that takes longer finishes its start under the quota.
BOOST_LIMIT = 10.0


class CpuBoost:
    """Ends (`apply` sets the quota) when `started` returns or fails, after `limit` seconds, or
    when a request calls `end` or awaits `ended`, whichever comes first; once only."""

    def __init__(
        self,
        name: str,
        apply: Callable[[], None],
        started: Callable[[], Awaitable[None]],
        *,
        limit: float = BOOST_LIMIT,
    ) -> None:
        self._name = name
        self._apply = apply
        self._over = False
        self._task = asyncio.create_task(self._run(started, limit), name=f"boost-{name}")

    def end(self) -> None:
        """Set the quota now (unless it is set); raises if it could not be set."""
        if self._over:
            return
        self._apply()
        self._over = True
        if self._task is not asyncio.current_task():
            self._task.cancel()

    async def ended(self) -> None:
        """Wait for the start to be over (bounded by the limit), then `end`."""
        await asyncio.wait({self._task})
        self.end()

    def close(self) -> None:
        """The kernel is gone: stop waiting, set nothing."""
        self._over = True
        self._task.cancel()

    async def _run(self, started: Callable[[], Awaitable[None]], limit: float) -> None:
        try:
            async with asyncio.timeout(limit):
                await started()
        except TimeoutError:
            log.info("kernel %s: start not over after %gs; quota set", self._name, limit)
        except Exception as exc:  # the runner went away: its end is the monitor's to report
            log.debug("kernel %s: no end of start heard (%s)", self._name, exc)
        try:
            self.end()
        except Exception:  # the next request retries, and is refused while this fails
            log.exception("kernel %s: setting the CPU quota failed", self._name)
