"""Scheduling policies: the order in which a resource group's pending sessions are tried.

Each policy lives in its own module and is registered in `POLICIES`; a resource group names
its policy and options (see docs/scheduling.md). Every policy is only an order: each session
is still tried in every cycle (rule R-NO-HOL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from services.scheduler.domain.errors import UnknownPolicy
from services.scheduler.domain.model import PendingSession
from services.scheduler.domain.policy.context import EMPTY_CONTEXT, QueueContext
from services.scheduler.domain.policy.drf import DrfPolicy
from services.scheduler.domain.policy.fifo import FifoPolicy
from services.scheduler.domain.policy.lifo import LifoPolicy
from services.scheduler.domain.policy.priority import PriorityPolicy

__all__ = ["POLICIES", "QueueContext", "SchedulingPolicy", "get_policy"]


class SchedulingPolicy(Protocol):
    name: str

    def order(
        self, pending: Sequence[PendingSession], context: QueueContext = EMPTY_CONTEXT
    ) -> list[PendingSession]:
        """The sessions of one resource group in the order they should be tried."""
        ...


POLICIES: dict[str, Callable[[Mapping[str, str] | None], SchedulingPolicy]] = {
    FifoPolicy.name: FifoPolicy,
    LifoPolicy.name: LifoPolicy,
    DrfPolicy.name: DrfPolicy,
    PriorityPolicy.name: PriorityPolicy,
}


def get_policy(name: str, options: Mapping[str, str] | None = None) -> SchedulingPolicy:
    """The named policy configured with `options`; bad names or options raise InvalidArgument."""
    factory = POLICIES.get(name)
    if factory is None:
        raise UnknownPolicy(f"unknown scheduling policy {name!r}; known: {sorted(POLICIES)}")
    return factory(options)
