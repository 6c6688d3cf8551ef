"""DRF (dominant resource fairness): the user with the smallest dominant share goes first.

A user's dominant share is the largest, over the group's slots with non-zero capacity, of
(slots the user's sessions hold) / (group capacity). The user with the smallest share offers
their oldest pending session; its request is then added to their share (as if it were placed)
and the next pick is made, so a queue interleaves users instead of serving one user's burst.
Users are owners (or keypairs for sessions without an owner); ties go to the older session.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import PendingSession
from services.scheduler.domain.policy.context import (
    EMPTY_CONTEXT,
    QueueContext,
    oldest_first,
    user_of,
)

_ZERO = Decimal(0)


def dominant_share(held: ResourceSlots, capacity: ResourceSlots) -> Decimal:
    """max(held[slot] / capacity[slot]) over slots with capacity > 0; 0 when nothing is held."""
    shares = [held[slot] / amount for slot, amount in capacity.items() if amount > 0]
    return max(shares, default=_ZERO)


class DrfPolicy:
    name = "drf"

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        del options  # DRF takes none

    def order(
        self, pending: Sequence[PendingSession], context: QueueContext = EMPTY_CONTEXT
    ) -> list[PendingSession]:
        held: dict[str, ResourceSlots] = {}
        for active in context.active:
            user = user_of(active)
            held[user] = held.get(user, ResourceSlots()) + active.slots
        queues: dict[str, list[PendingSession]] = {}
        for session in oldest_first(pending):
            queues.setdefault(user_of(session), []).append(session)
        heap: list[tuple[Decimal, datetime, str, str]] = []
        for user, queue in queues.items():
            share = dominant_share(held.get(user, ResourceSlots()), context.capacity)
            heap.append((share, queue[0].create_time, queue[0].session_id, user))
        heapq.heapify(heap)
        ordered: list[PendingSession] = []
        taken = dict.fromkeys(queues, 0)
        while heap:
            _, _, _, user = heapq.heappop(heap)
            queue = queues[user]
            session = queue[taken[user]]
            ordered.append(session)
            taken[user] += 1
            held[user] = held.get(user, ResourceSlots()) + session.requested
            if taken[user] < len(queue):
                nxt = queue[taken[user]]
                share = dominant_share(held[user], context.capacity)
                heapq.heappush(heap, (share, nxt.create_time, nxt.session_id, user))
        return ordered
