"""Least occupied first: the agent whose busiest slot is least used after the placement.

Agents with accelerators the kernel does not ask for come last (Backend.AI's FIFO selector does
the same): a CPU-only kernel should not take the CPU and memory a GPU node's devices need.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.scheduler.domain.model import Agent, PendingKernel


class LeastOccupiedSelector:
    name = "least-occupied"

    def select(self, kernel: PendingKernel, candidates: Sequence[Agent]) -> Agent | None:
        if not candidates:
            return None
        # Ties go to the smallest agent id so that decisions are reproducible.
        return min(
            candidates,
            key=lambda a: (a.unneeded_slots(kernel), a.utilization_after(kernel), a.agent_id),
        )
