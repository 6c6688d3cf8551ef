"""Agent selectors: which of the agents that pass the predicates gets a kernel.

`least_occupied.py` spreads load; concentrated / most-occupied-first (bin packing) would be
`most_occupied.py`, registered in `SELECTORS` next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from services.scheduler.domain.errors import UnknownSelector
from services.scheduler.domain.model import Agent, PendingKernel
from services.scheduler.domain.selectors.least_occupied import LeastOccupiedSelector


class AgentSelector(Protocol):
    name: str

    def select(self, kernel: PendingKernel, candidates: Sequence[Agent]) -> Agent | None:
        """One of `candidates` (all of which fit `kernel`), or None when there are none."""
        ...


SELECTORS: dict[str, Callable[[], AgentSelector]] = {
    LeastOccupiedSelector.name: LeastOccupiedSelector,
}


def get_selector(name: str) -> AgentSelector:
    factory = SELECTORS.get(name)
    if factory is None:
        raise UnknownSelector(f"unknown agent selector {name!r}; known: {sorted(SELECTORS)}")
    return factory()
