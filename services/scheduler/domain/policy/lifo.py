"""LIFO: newest first (the most recently created session gets the first pick of capacity)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.scheduler.domain.model import PendingSession
from services.scheduler.domain.policy.context import EMPTY_CONTEXT, QueueContext, oldest_first


class LifoPolicy:
    name = "lifo"

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        del options  # LIFO takes none

    def order(
        self, pending: Sequence[PendingSession], context: QueueContext = EMPTY_CONTEXT
    ) -> list[PendingSession]:
        del context  # this order ignores the queue context
        return oldest_first(pending)[::-1]
