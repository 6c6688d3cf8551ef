"""Execute: run code in the session's main kernel through its agent (also live)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from libs.core.access import Verb
from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotRunning
from services.registry.domain.model import ExecMode, ExecOutcome, ExecPoll, Status
from services.registry.service.access import check_access
from services.registry.service.idle_ports import ActivityClock
from services.registry.service.ports import AgentClient, AgentStore
from services.registry.service.session_ports import SessionReader

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
# Seconds an execution runs before its end is recorded as use again (idle timeouts are minutes).
TOUCH_AGAIN_AFTER = 1.0
# Activity records being written while the reply goes out (kept referenced until done).
_recording: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class ExecTarget:
    """Where a session's code runs: its main kernel and that kernel's agent."""

    session_id: str
    address: str
    kernel_id: str


@dataclass(frozen=True, slots=True)
class ExecTargets:
    store: SessionReader
    agent_store: AgentStore
    # Executions are use: they keep the session from being reclaimed as idle.
    activity: ActivityClock | None = None

    async def __call__(self, caller: Caller, session_id: str) -> ExecTarget:
        """The running session's main kernel, if the caller may execute code in it."""
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
        return ExecTarget(session_id, address, main.kernel_id)

    async def touch(self, session_id: str) -> None:
        """The session was used (for the idle checker)."""
        if self.activity is not None:
            await self.activity.touch(session_id)

    def touch_soon(self, session_id: str) -> None:
        """`touch`, without making the execution wait for it; a failure is only logged (the
        idle checker then sees the session's previous use)."""
        if self.activity is None:
            return
        task = asyncio.create_task(self._touch_quietly(session_id))
        _recording.add(task)
        task.add_done_callback(_recording.discard)

    async def _touch_quietly(self, session_id: str) -> None:
        try:
            await self.touch(session_id)
        except Exception as exc:
            log.warning("could not record the use of session %s: %s", session_id, exc)


@dataclass(frozen=True, slots=True)
class Execute:
    store: SessionReader
    agent_store: AgentStore
    agents: AgentClient
    activity: ActivityClock | None = None

    async def __call__(
        self,
        caller: Caller,
        session_id: str,
        mode: ExecMode,
        code: str,
        timeout: float | None,
        poll: ExecPoll | None = None,
    ) -> ExecOutcome:
        _check(mode, code, poll)
        targets = ExecTargets(self.store, self.agent_store, self.activity)
        target = await targets(caller, session_id)
        targets.touch_soon(session_id)  # recorded while the code runs, not before
        started = time.monotonic()
        try:
            return await self.agents.execute(
                target.address, target.kernel_id, mode, code, timeout or DEFAULT_TIMEOUT, poll
            )
        finally:
            # A long run counts as use until it ends; a short one was recorded as it started.
            if time.monotonic() - started >= TOUCH_AGAIN_AFTER:
                targets.touch_soon(session_id)


def _check(mode: ExecMode, code: str, poll: ExecPoll | None) -> None:
    if mode in (ExecMode.CONTINUE, ExecMode.INPUT):
        if poll is None or not poll.run_id:
            why = f"mode {mode.value} needs the run_id of a CONTINUED or WAITING_INPUT reply"
            raise InvalidArgument(f"run_id: {why}", violations=[FieldViolation("run_id", why)])
    elif not code:
        why = f"mode {mode.value} needs code to run"
        raise InvalidArgument(f"code: {why}", violations=[FieldViolation("code", why)])
    elif poll is not None and poll.run_id:
        why = "only modes continue and input name a run"
        raise InvalidArgument(f"run_id: {why}", violations=[FieldViolation("run_id", why)])
