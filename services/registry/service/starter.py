"""The starter: SCHEDULED → PREPARING → agents' CreateKernels (docs/architecture.md step 4).

Any registry replica may run it: claiming uses SKIP LOCKED, so each session is started once.
Agent events, not this loop, move kernels to RUNNING (rule R-AGENT-EVENTS); a failed create
cancels the session with its reason and frees the slots (R-FAILED-START).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from opentelemetry import trace

from libs.core.errors import ShipyardError
from libs.telemetry.tracing import attach_trace_context, detach
from services.registry.service.cluster_start import ClusterLaunches
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import (
    AgentClient,
    PreparingSession,
)
from services.registry.service.session_ports import SessionStarts

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

START_TIMEOUT = 50.0  # per session; one slow agent never blocks the others (rule R-SLOW-AGENT)


@dataclass(slots=True)
class Starter:
    store: SessionStarts
    agents: AgentClient
    wakeup: asyncio.Event
    batch: int = 16
    poll_interval: float = 1.0
    cluster: ClusterLaunches = field(default_factory=ClusterLaunches)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            while True:
                claimed = await self._claim()
                for prep in claimed:
                    tasks.create_task(self.start(prep))
                if len(claimed) < self.batch:
                    await self._sleep()

    async def _claim(self) -> list[PreparingSession]:
        try:
            return await self.store.claim_scheduled(self.batch)
        except Exception:
            log.exception("claiming scheduled sessions failed")
            return []

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), self.poll_interval)
        self.wakeup.clear()

    async def start(self, prep: PreparingSession) -> None:
        """Create every kernel of one session on its agent; cancel the session on failure."""
        session = prep.session
        token = attach_trace_context(session.trace_context)
        try:
            with tracer.start_as_current_span("start session") as span:
                span.set_attribute("shipyard.session_id", session.session_id)
                await asyncio.wait_for(self._create_all(prep), START_TIMEOUT)
        except (ShipyardError, TimeoutError) as exc:
            await self._fail(prep, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            log.exception("starting session %s failed", session.session_id)
            await self._fail(prep, f"{type(exc).__name__}: {exc}")
        finally:
            detach(token)

    async def _create_all(self, prep: PreparingSession) -> None:
        by_agent = await self.cluster.plan(prep)
        calls = [
            self.agents.create_kernels(address, launches) for address, launches in by_agent.items()
        ]
        # All agents get their calls; the first failure (not a wrapper group) is the reason.
        for result in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    async def _fail(self, prep: PreparingSession, error: str) -> None:
        log.warning("session %s failed to start: %s", prep.session.session_id, error)
        await self.store.cancel(prep.session.session_id, reason="failed-to-start", error=error)
        # Kernels that did start on some agent must not linger (their events are no-ops now).
        await tell_agents(self.agents, list(prep.targets), "failed-to-start")
