"""Cancels sessions pending longer than their resource group allows (`pending-timeout`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from libs.core.errors import ShipyardError
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import Unschedulable
from services.scheduler.domain.pending_timeout import PENDING_TIMEOUT, timed_out, timeout_message
from services.scheduler.service.ports import PendingCanceller

log = logging.getLogger(__name__)
# One call carries at most this many (the registry's limit).
BATCH = 1000


class PendingExpiry:
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

    async def run(self, cache: ClusterCache) -> list[str]:
        """Cancel the expired sessions and drop them from the queue; their ids.

        A failed call is logged and retried next cycle: the sessions stay queued meanwhile."""
        now = self._now()
        expired = timed_out(cache.pending(), now=now, timeout_for=self._timeout_for)
        cancelled: list[str] = []
        for start in range(0, len(expired), BATCH):
            batch = [
                Unschedulable(
                    session_id=s.session_id,
                    reason=PENDING_TIMEOUT,
                    message=timeout_message(s, now, self._timeout_for(s.resource_group)),
                )
                for s in expired[start : start + BATCH]
            ]
            try:
                cancelled += await self._canceller.cancel_pending(batch)
            except ShipyardError as exc:
                log.warning("could not cancel %d timed-out sessions: %s", len(batch), exc)
                break
            # Those the registry did not cancel had left the queue already.
            for item in batch:
                cache.remove_pending(item.session_id)
        return cancelled
