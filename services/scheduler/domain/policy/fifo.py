"""FIFO: oldest first. An unplaceable session is skipped, never waited on (rule R-NO-HOL).

`num_retries_to_skip` = N > 0 sends sessions that already failed N times or more to the back
of the queue (oldest first among them), so fresh sessions get the first pick of capacity;
0 keeps strict creation order. Every session is still tried in every cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.scheduler.domain.errors import InvalidPolicyOption
from services.scheduler.domain.model import PendingSession
from services.scheduler.domain.policy.context import EMPTY_CONTEXT, QueueContext, oldest_first
from services.scheduler.domain.policy.options import int_option


class FifoPolicy:
    name = "fifo"

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.num_retries_to_skip = int_option(options, "num_retries_to_skip", default=0)
        if self.num_retries_to_skip < 0:
            raise InvalidPolicyOption(
                "num_retries_to_skip", f"must be >= 0, got {self.num_retries_to_skip}"
            )

    def order(
        self, pending: Sequence[PendingSession], context: QueueContext = EMPTY_CONTEXT
    ) -> list[PendingSession]:
        ordered = oldest_first(pending)
        limit = self.num_retries_to_skip
        if limit == 0:
            return ordered
        fresh = [s for s in ordered if context.attempts.get(s.session_id, 0) < limit]
        skipped = [s for s in ordered if context.attempts.get(s.session_id, 0) >= limit]
        return fresh + skipped
