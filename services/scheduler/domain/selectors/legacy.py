"""The selector of Backend.AI's FIFO/LIFO schedulers, kept for groups that want its behaviour.

Among the agents that fit, prefer those with the fewest slot types the request asks none of
(no GPU node for a CPU-only kernel), then the one with the most free capacity, compared slot
by slot in name order (cpu before mem before accelerators).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from services.scheduler.domain.model import Agent, PendingKernel


class LegacySelector:
    name = "legacy"

    def select(self, kernel: PendingKernel, candidates: Sequence[Agent]) -> Agent | None:
        if not candidates:
            return None
        slot_names = sorted({s for a in candidates for s in a.available})

        def key(a: Agent) -> tuple[int, tuple[Decimal, ...], str]:
            free = tuple(-a.free[s] for s in slot_names)
            return (a.unneeded_slots(kernel), free, a.agent_id)

        return min(candidates, key=key)
