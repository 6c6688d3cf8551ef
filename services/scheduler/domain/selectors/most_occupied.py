"""Most occupied first (bin packing): the agent whose busiest slot is most used after placement.

Filling busy agents first keeps whole agents free for large sessions. Agents with accelerators
the kernel does not ask for still come last, as in every selector here.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.scheduler.domain.model import Agent, PendingKernel


class MostOccupiedSelector:
    name = "most-occupied"

    def select(self, kernel: PendingKernel, candidates: Sequence[Agent]) -> Agent | None:
        if not candidates:
            return None
        # Ties go to the smallest agent id so that decisions are reproducible.
        return min(
            candidates,
            key=lambda a: (a.unneeded_slots(kernel), -a.utilization_after(kernel), a.agent_id),
        )
