"""Draining on SIGTERM (rule R-DRAIN in docs/reliability.md).

Before an agent stops it leaves scheduling, so that the sessions placed meanwhile go to other
agents instead of failing here: it refuses new kernels (`AgentKernels.draining`), tells the
registry (`DrainAgent`), and lets the starts already in flight finish within a deadline. Then it
stops as before. A registry that cannot be told does not hold the agent up: its heartbeats end
and the registry's sweep takes it out of scheduling later.
"""

from __future__ import annotations

import asyncio
import logging

from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import AgentRegistry

log = logging.getLogger(__name__)

DRAIN_REASON = "shutting-down"


class Drain:
    def __init__(
        self,
        kernels: AgentKernels,
        registry: AgentRegistry,
        agent_id: str,
        *,
        deadline: float = 30.0,
    ) -> None:
        self._kernels = kernels
        self._registry = registry
        self._agent_id = agent_id
        self._deadline = deadline

    async def __call__(self) -> bool:
        """True when every in-flight start finished within the deadline."""
        self._kernels.draining = True
        try:
            async with asyncio.timeout(self._deadline):
                await self._registry.drain(self._agent_id, DRAIN_REASON)
        except Exception as exc:
            log.warning("could not tell the registry that %s drains: %s", self._agent_id, exc)
        in_flight = list(self._kernels.creating.values())
        if not in_flight:
            return True
        log.info("waiting for %d kernel start(s) before stopping", len(in_flight))
        _, pending = await asyncio.wait(in_flight, timeout=self._deadline)
        if pending:
            log.warning(
                "%d kernel start(s) still running after %.0fs", len(pending), self._deadline
            )
        return not pending
