"""RestartSession: a RUNNING session's kernels restart in place (docs/sessions.md).

The request commits RESTARTING and returns; each kernel's agent then restarts its runner, and the
session is RUNNING again once all of them answered. A restart that fails on an agent ends the
session (reason `restart-failed`) rather than leaving it half restarted; one whose registry died
meanwhile is finished by the reconciler (`recover`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from libs.core.access import Verb
from libs.core.errors import ShipyardError
from libs.core.identity import Caller
from services.registry.domain.model import Session
from services.registry.service.access import check_access
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import AgentClient, KernelTarget
from services.registry.service.session_ports import SessionEnding, SessionReader

log = logging.getLogger(__name__)
RESTART_FAILED = "restart-failed"


class RestartStore(Protocol):
    async def begin(self, session_id: str) -> tuple[Session, list[KernelTarget]]:
        """RUNNING -> RESTARTING and the kernels to restart; none when already RESTARTING.
        SessionNotRunning for any other status."""
        ...

    async def finish(self, session_id: str, *, reason: str = "restarted") -> bool: ...

    async def stale(self, older_than: datetime) -> list[str]: ...


@dataclass(slots=True)
class RestartSession:
    store: SessionReader
    restarts: RestartStore
    ending: SessionEnding
    agents: AgentClient
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __call__(self, caller: Caller, session_id: str) -> Session:
        check_access(caller, await self.store.get(session_id), Verb.UPDATE)
        session, targets = await self.restarts.begin(session_id)
        if targets:  # not a retry of a restart under way
            task = asyncio.create_task(self._restart(session_id, targets))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await self.store.get(session_id) if targets else session

    async def _restart(self, session_id: str, targets: list[KernelTarget]) -> None:
        async def one(t: KernelTarget) -> None:
            await self.agents.restart_kernel(t.agent_address, t.kernel_id)

        results = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if not failures:
            await self.restarts.finish(session_id)
            return
        log.warning("restart of session %s failed: %s", session_id, failures[0])
        await self._end(session_id)

    async def _end(self, session_id: str) -> None:
        try:
            ended, _ = await self.ending.begin_destroy(
                session_id, forced=True, reason=RESTART_FAILED
            )
            await tell_agents(self.agents, ended, RESTART_FAILED)
        except ShipyardError as exc:
            log.warning("ending session %s after a failed restart failed: %s", session_id, exc)

    async def recover(self, older_than: datetime) -> None:
        """Sessions left RESTARTING by a registry that died: their kernels kept running (the
        runner restarts on its own once asked), so they are RUNNING again."""
        for session_id in await self.restarts.stale(older_than):
            log.warning("session %s stuck in RESTARTING; back to RUNNING", session_id)
            await self.restarts.finish(session_id, reason="restart-interrupted")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
