"""DestroySession: record TERMINATING, then tell the agents; their events finish the job."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from libs.core.access import Verb
from libs.core.errors import ShipyardError
from libs.core.identity import Caller
from services.registry.domain.model import Session
from services.registry.service.access import check_access
from services.registry.service.ports import AgentClient, KernelTarget
from services.registry.service.session_ports import SessionEnding, SessionReader

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DestroySession:
    store: SessionReader
    ending: SessionEnding
    agents: AgentClient

    async def __call__(self, caller: Caller, session_id: str, *, forced: bool) -> Session:
        check_access(caller, await self.store.get(session_id), Verb.DELETE)
        # Shielded: once TERMINATING is committed the agents must be told (rule R-SHIELD).
        await asyncio.shield(self._destroy(session_id, forced))
        return await self.store.get(session_id)

    async def _destroy(self, session_id: str, forced: bool) -> None:
        targets, _ = await self.ending.begin_destroy(
            session_id, forced=forced, reason="user-requested"
        )
        await tell_agents(self.agents, targets, "user-requested")


async def tell_agents(agents: AgentClient, targets: list[KernelTarget], reason: str) -> None:
    """Ask each kernel's agent to destroy it; failures are retried later by the sweeper."""

    async def one(t: KernelTarget) -> None:
        try:
            await agents.destroy_kernel(t.agent_address, t.kernel_id, t.session_id, reason)
        except ShipyardError as exc:
            log.warning("destroy of kernel %s on %s failed: %s", t.kernel_id, t.agent_id, exc)

    await asyncio.gather(*(one(t) for t in targets))
