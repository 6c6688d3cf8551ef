"""Least occupied first: the agent whose busiest slot is least used after the placement."""

from __future__ import annotations

from collections.abc import Sequence

from services.scheduler.domain.model import Agent, PendingKernel


class LeastOccupiedSelector:
    name = "least-occupied"

    def select(self, kernel: PendingKernel, candidates: Sequence[Agent]) -> Agent | None:
        if not candidates:
            return None
        # Ties go to the smallest agent id so that decisions are reproducible.
        return min(candidates, key=lambda a: (a.utilization_after(kernel), a.agent_id))
