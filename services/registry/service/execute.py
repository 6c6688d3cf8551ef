"""Execute: run code in the session's main kernel through its agent."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.access import Verb
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotRunning
from services.registry.domain.model import ExecMode, ExecOutcome, Status
from services.registry.service.access import check_access
from services.registry.service.idle_ports import ActivityClock
from services.registry.service.ports import AgentClient, AgentStore
from services.registry.service.session_ports import SessionReader

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Execute:
    store: SessionReader
    agent_store: AgentStore
    agents: AgentClient
    # Executions are use: they keep the session from being reclaimed as idle.
    activity: ActivityClock | None = None

    async def __call__(
        self, caller: Caller, session_id: str, mode: ExecMode, code: str, timeout: float | None
    ) -> ExecOutcome:
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.EXECUTE)
        main = session.main_kernel
        if session.status is not Status.RUNNING or main is None or main.agent_id is None:
            raise SessionNotRunning(
                f"session {session_id} is {session.status.value}, not RUNNING",
                metadata={"status": session.status.value},
            )
        # The address was recorded at bind time; the agent table is only a fallback.
        address = main.agent_address or (await self.agent_store.get(main.agent_id)).address
        if self.activity is not None:
            await self.activity.touch(session_id)
        try:
            return await self.agents.execute(
                address, main.kernel_id, mode, code, timeout or DEFAULT_TIMEOUT
            )
        finally:
            if self.activity is not None:  # a long run counts as use until it ends
                await self.activity.touch(session_id)
