"""FIFO: oldest first. An unplaceable session is skipped, never waited on (rule R-NO-HOL)."""

from __future__ import annotations

from collections.abc import Sequence

from services.scheduler.domain.model import PendingSession


class FifoPolicy:
    name = "fifo"

    def order(self, pending: Sequence[PendingSession]) -> list[PendingSession]:
        # The id breaks ties between sessions created in the same instant, for determinism.
        return sorted(pending, key=lambda s: (s.create_time, s.session_id))
