"""Agent selectors: which of the agents that pass the predicates gets a kernel.

`least_occupied.py` spreads load, `most_occupied.py` packs (bin packing) and `legacy.py` keeps
Backend.AI's rule (no unneeded accelerators, then the most free capacity). A resource group names
its selector (see docs/scheduling.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from services.scheduler.domain.errors import UnknownSelector
from services.scheduler.domain.model import Agent, PendingKernel
from services.scheduler.domain.selectors.least_occupied import LeastOccupiedSelector
from services.scheduler.domain.selectors.legacy import LegacySelector
from services.scheduler.domain.selectors.most_occupied import MostOccupiedSelector


class AgentSelector(Protocol):
    name: str

    def select(self, kernel: PendingKernel, candidates: Sequence[Agent]) -> Agent | None:
        """One of `candidates` (all of which fit `kernel`), or None when there are none."""
        ...


SELECTORS: dict[str, Callable[[], AgentSelector]] = {
    LeastOccupiedSelector.name: LeastOccupiedSelector,
    MostOccupiedSelector.name: MostOccupiedSelector,
    LegacySelector.name: LegacySelector,
}


def get_selector(name: str) -> AgentSelector:
    factory = SELECTORS.get(name)
    if factory is None:
        raise UnknownSelector(f"unknown agent selector {name!r}; known: {sorted(SELECTORS)}")
    return factory()
