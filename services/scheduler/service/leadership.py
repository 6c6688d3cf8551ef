"""Active/standby: only the holder of the lease schedules; it steps down when renewal fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from libs.core.errors import ShipyardError
from services.scheduler.service.ports import Clock, LeaderLease

log = logging.getLogger(__name__)


class LeaderElector:
    def __init__(
        self,
        lease: LeaderLease,
        *,
        ttl: float,
        clock: Clock,
        on_elected: Callable[[], None] = lambda: None,
        can_lead: Callable[[], bool] = lambda: True,
    ) -> None:
        self._lease = lease
        self._ttl = ttl
        self._clock = clock
        self._on_elected = on_elected
        self._can_lead = can_lead
        self._held = False
        self._valid_until = 0.0
        self._unfit_since: float | None = None

    @property
    def is_leader(self) -> bool:
        # Leadership also lapses locally at the lease's end, even if a renewal call hangs.
        return self._held and self._clock() < self._valid_until

    @property
    def epoch(self) -> int:
        """The epoch of our last tenure, to fence binds with: a deposed leader still sends its
        old epoch (never 0), so the registry refuses it (R-FENCED-BIND)."""
        return self._lease.epoch

    async def run(self) -> None:
        """Renew (as leader) or try to take over (as standby) every third of the ttl."""
        while True:
            await self.step()
            await asyncio.sleep(self._ttl / 3)

    async def step(self) -> None:
        started = self._clock()
        if not await self._fit_to_lead(started):
            return
        try:
            # A call slower than the lease is useless: the lease may be gone by its answer.
            async with asyncio.timeout(self._ttl / 2):
                ok = await (self._lease.renew() if self._held else self._lease.acquire())
        except (ShipyardError, TimeoutError) as exc:
            log.warning("leader lease call failed: %s", exc)
            ok = False
        if ok:
            elected = not self._held
            self._held = True
            self._valid_until = started + self._ttl
            if elected:
                log.info("became the scheduling leader")
                self._on_elected()
        elif self._held:
            log.warning("lost the leader lease; stepping down")
            self._held = False

    async def _fit_to_lead(self, now: float) -> bool:
        """A replica that cannot lead (its watch is down) does not take the lease, and a leader
        that stays unfit for a whole ttl hands it over to a standby that may be better off."""
        if self._can_lead():
            self._unfit_since = None
            return True
        if not self._held:
            return False
        if self._unfit_since is None:
            self._unfit_since = now
        elif now - self._unfit_since >= self._ttl:
            log.warning("cannot schedule for a whole lease period; handing the lease over")
            self._unfit_since = None
            await self.resign()
            return False
        return True

    async def resign(self) -> None:
        """Release the lease (on shutdown) so that a standby takes over without waiting."""
        if not self._held:
            return
        self._held = False
        try:
            await self._lease.release()
        except ShipyardError as exc:
            log.warning("could not release the leader lease: %s", exc)
