"""PRIORITY: the highest `priority` first; creation order (FIFO) among equal priorities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.scheduler.domain.model import PendingSession
from services.scheduler.domain.policy.context import EMPTY_CONTEXT, QueueContext


class PriorityPolicy:
    name = "priority"

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        del options  # the priority comes with each session

    def order(
        self, pending: Sequence[PendingSession], context: QueueContext = EMPTY_CONTEXT
    ) -> list[PendingSession]:
        del context  # this order ignores the queue context
        return sorted(pending, key=lambda s: (-s.priority, s.create_time, s.session_id))
