"""Scheduling policies: the order in which a resource group's pending sessions are tried.

Each policy lives in its own module and is registered in `POLICIES`: `fifo.py` today;
`lifo.py` (newest first) and `drf.py` (smallest dominant share per access key first, which
needs per-access-key usage from the cache) go next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from services.scheduler.domain.errors import UnknownPolicy
from services.scheduler.domain.model import PendingSession
from services.scheduler.domain.policy.fifo import FifoPolicy


class SchedulingPolicy(Protocol):
    name: str

    def order(self, pending: Sequence[PendingSession]) -> list[PendingSession]:
        """The sessions of one resource group in the order they should be tried."""
        ...


POLICIES: dict[str, Callable[[], SchedulingPolicy]] = {
    FifoPolicy.name: FifoPolicy,
}


def get_policy(name: str) -> SchedulingPolicy:
    factory = POLICIES.get(name)
    if factory is None:
        raise UnknownPolicy(f"unknown scheduling policy {name!r}; known: {sorted(POLICIES)}")
    return factory()
