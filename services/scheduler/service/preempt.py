"""Preemption after a cycle: a higher-priority session that found no room ends victims.

Only sessions that failed for capacity and ask priority > 0 are considered. Victims are chosen
by domain/preemption.py; a victim asked to end is not chosen again while it winds down (until
`hold` seconds pass), and the freed slots reach the preemptor through the normal cycle, where it
is tried before every other session of its group (`first`): a victim queued again on
preemption is older, and under FIFO it would otherwise take its own room back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from libs.core.errors import ShipyardError
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import NO_AVAILABLE_INSTANCES, PendingSession, Unschedulable
from services.scheduler.domain.preemption import choose_victims
from services.scheduler.service.ports import Clock, Preempter

log = logging.getLogger(__name__)


class Preemption:
    def __init__(
        self,
        preempter: Preempter,
        *,
        clock: Clock,
        now: Callable[[], datetime],
        hold: float = 60.0,
    ) -> None:
        self._preempter = preempter
        self._clock = clock
        self._now = now
        self._hold = hold
        # Victim id -> when it was asked to end (monotonic seconds).
        self._ending: dict[str, float] = {}
        # Preemptor id -> when it last made room (it waits for that room before asking again).
        self._waiting: dict[str, float] = {}

    def first(self, ordered: Sequence[PendingSession]) -> list[PendingSession]:
        """A group's order with the sessions room was made for moved to the front (stable)."""
        waiting = self._forget_old(self._clock())
        if not waiting:
            return list(ordered)
        made_room = [s for s in ordered if s.session_id in waiting]
        return made_room + [s for s in ordered if s.session_id not in waiting]

    def _forget_old(self, moment: float) -> dict[str, float]:
        self._ending = {k: t for k, t in self._ending.items() if moment - t < self._hold}
        self._waiting = {k: t for k, t in self._waiting.items() if moment - t < self._hold}
        return self._waiting

    async def run(self, cache: ClusterCache, failures: Sequence[Unschedulable]) -> list[str]:
        """Ask the registry to end victims for the sessions that found no room; ids ended."""
        moment = self._clock()
        self._forget_old(moment)
        short = {
            f.session_id
            for f in failures
            if f.reason == NO_AVAILABLE_INSTANCES and f.session_id not in self._waiting
        }
        candidates = [s for s in cache.pending() if s.session_id in short and s.priority > 0]
        wanted: list[tuple[str, str]] = []
        # The most urgent first: they get the cheapest victims.
        for session in sorted(candidates, key=lambda s: (-s.priority, s.create_time)):
            active = [a for a in cache.active() if a.session_id not in self._ending]
            chosen = choose_victims(
                session, cache.agents(session.resource_group), active, now=self._now()
            )
            if chosen is None:
                continue
            for victim in chosen.victims:
                self._ending[victim] = moment
                wanted.append((victim, session.session_id))
            self._waiting[session.session_id] = moment
        if not wanted:
            return []
        try:
            ended = await self._preempter.preempt(wanted)
        except ShipyardError as exc:
            log.warning("preemption of %d sessions failed: %s", len(wanted), exc)
            for victim, by in wanted:
                self._ending.pop(victim, None)
                self._waiting.pop(by, None)
            return []
        # A preemptor none of whose victims the registry ended (our view was stale) made no
        # room: it may look for other victims at once. Refused victims stay skipped for `hold`.
        gone = set(ended)
        made_room = {by for victim, by in wanted if victim in gone}
        for _, by in wanted:
            if by not in made_room:
                self._waiting.pop(by, None)
        return ended
