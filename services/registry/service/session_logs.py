"""GetSessionLogs: the console output of a session's main kernel, from its agent."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.access import Verb
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotRunning
from services.registry.service.access import check_access
from services.registry.service.ports import AgentClient, AgentStore
from services.registry.service.session_ports import SessionReader


@dataclass(frozen=True, slots=True)
class GetSessionLogs:
    store: SessionReader
    agent_store: AgentStore
    agents: AgentClient

    async def __call__(self, caller: Caller, session_id: str, tail: int) -> str:
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.READ)
        main = session.main_kernel
        if main is None or main.agent_id is None:
            raise SessionNotRunning(
                f"session {session_id} is {session.status.value} and has no kernel yet",
                metadata={"status": session.status.value},
            )
        # Agents keep the output of ended kernels for a while; they answer NOT_FOUND after.
        address = main.agent_address or (await self.agent_store.get(main.agent_id)).address
        return await self.agents.kernel_logs(address, main.kernel_id, tail)
