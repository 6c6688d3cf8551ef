"""OpenTerminal: where a session's terminal runs (its main kernel), for those who may use it."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.access import Verb
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotRunning
from services.registry.domain.model import Status
from services.registry.service.access import check_access
from services.registry.service.ports import AgentStore
from services.registry.service.session_ports import SessionReader
from services.registry.service.terminal_ports import AgentTerminal, AgentTerminals


@dataclass(frozen=True, slots=True)
class OpenTerminal:
    store: SessionReader
    agent_store: AgentStore
    terminals: AgentTerminals

    async def __call__(
        self, caller: Caller, session_id: str, size: tuple[int, int] | None
    ) -> AgentTerminal:
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.EXECUTE)
        main = session.main_kernel
        if session.status is not Status.RUNNING or main is None or main.agent_id is None:
            raise SessionNotRunning(
                f"session {session_id} is {session.status.value}, not RUNNING",
                metadata={"status": session.status.value},
            )
        address = main.agent_address or (await self.agent_store.get(main.agent_id)).address
        return await self.terminals.open(address, main.kernel_id, size)
