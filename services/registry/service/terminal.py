"""OpenTerminal: where a session's terminal runs (its main kernel), for those who may use it."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.identity import Caller
from services.registry.service.execute import ExecTargets
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
        # The same rule as executing code: the running session's main kernel, if allowed.
        target = await ExecTargets(self.store, self.agent_store)(caller, session_id)
        return await self.terminals.open(target.address, target.kernel_id, size)
