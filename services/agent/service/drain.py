"""Draining on SIGTERM (rule R-DRAIN in docs/reliability.md).

Before an agent stops it leaves scheduling, so that the sessions placed meanwhile go to other
agents instead of failing here: it refuses new kernels (`AgentKernels.draining`), tells the
registry (`DrainAgent`), lets the starts already in flight finish, and lets running batch kernels
(which end by themselves) run to their end, all within one deadline. Then it stops as before.
A registry that cannot be told does not hold the agent up: its heartbeats end and the
registry's sweep takes it out of scheduling later.
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
        """True when every in-flight start and batch kernel finished within the deadline."""
        self._kernels.draining = True
        end = asyncio.get_running_loop().time() + self._deadline
        try:
            async with asyncio.timeout(self._deadline):
                await self._registry.drain(self._agent_id, DRAIN_REASON)
        except Exception as exc:
            log.warning("could not tell the registry that %s drains: %s", self._agent_id, exc)
        in_flight = list(self._kernels.creating.values())
        if in_flight:
            log.info("waiting for %d kernel start(s) before stopping", len(in_flight))
            _, pending = await asyncio.wait(in_flight, timeout=self._left(end))
            if pending:
                log.warning("%d kernel start(s) still running at the deadline", len(pending))
                return False
        batch = [k for k in self._kernels.live_ids() if k in self._kernels.batch]
        if not batch:
            return True
        log.info("letting %d batch kernel(s) finish before stopping", len(batch))
        if await self._kernels.wait_ended(batch, self._left(end)):
            return True
        log.warning("batch kernels still running at the deadline; stopping them")
        return False

    @staticmethod
    def _left(end: float) -> float:
        return max(0.0, end - asyncio.get_running_loop().time())
