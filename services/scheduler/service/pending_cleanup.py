"""Cancels pending sessions that may no longer run: pending longer than their resource group
allows (`pending-timeout`) or waiting on a dependency that failed (`dependency-failed`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from libs.core.errors import ShipyardError
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.dependencies import DEPENDENCY_FAILED, judge
from services.scheduler.domain.model import Unschedulable
from services.scheduler.domain.pending_timeout import PENDING_TIMEOUT, timed_out, timeout_message
from services.scheduler.service.ports import PendingCanceller

log = logging.getLogger(__name__)
# One call carries at most this many (the registry's limit).
BATCH = 1000


class PendingCleanup:
    def __init__(
        self,
        canceller: PendingCanceller,
        *,
        timeout_for: Callable[[str], timedelta],
        now: Callable[[], datetime],
    ) -> None:
        self._canceller = canceller
        self._timeout_for = timeout_for
        self._now = now

    def doomed(self, cache: ClusterCache) -> list[Unschedulable]:
        """The queued sessions to cancel now, with reason and message."""
        now = self._now()
        found: dict[str, Unschedulable] = {}
        pending = cache.pending()
        for session in pending:
            if not session.dependencies:
                continue
            verdict = judge(session)
            if verdict.cancel:
                found[session.session_id] = Unschedulable(
                    session_id=session.session_id, reason=DEPENDENCY_FAILED, message=verdict.message
                )
        for session in timed_out(pending, now=now, timeout_for=self._timeout_for):
            found.setdefault(
                session.session_id,
                Unschedulable(
                    session_id=session.session_id,
                    reason=PENDING_TIMEOUT,
                    message=timeout_message(
                        session, now, self._timeout_for(session.resource_group)
                    ),
                ),
            )
        return list(found.values())

    async def run(self, cache: ClusterCache) -> list[str]:
        """Cancel them and drop them from the queue; the ids the registry cancelled.

        A failed call is logged and retried next cycle: the sessions stay queued meanwhile."""
        doomed = self.doomed(cache)
        cancelled: list[str] = []
        for start in range(0, len(doomed), BATCH):
            batch = doomed[start : start + BATCH]
            try:
                cancelled += await self._canceller.cancel_pending(batch)
            except ShipyardError as exc:
                log.warning("could not cancel %d pending sessions: %s", len(batch), exc)
                break
            # Those the registry did not cancel had left the queue already.
            for item in batch:
                cache.remove_pending(item.session_id)
        return cancelled
