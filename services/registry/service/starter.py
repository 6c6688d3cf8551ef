"""The starter: SCHEDULED → PREPARING → agents' CreateKernels (docs/architecture.md step 4).

Any registry replica may run it: claiming uses SKIP LOCKED, so each session is started once.
Agent events, not this loop, move kernels to RUNNING (rule R-AGENT-EVENTS). Starts run in a
bounded pool, each isolated from the others and bounded by a deadline counted from when it
begins (rule R-BOUNDED-START); a session is claimed only when a slot is free, so its deadline
never includes time spent waiting behind other starts. What a failed start means is decided in
`service/start_outcomes.py` (rules R-REQUEUE, R-FAILED-START).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from opentelemetry import trace

from libs.telemetry.tracing import attach_trace_context, detach
from services.registry.service.cluster_start import ClusterLaunches
from services.registry.service.ports import AgentClient, PreparingSession
from services.registry.service.session_ports import SessionStarts
from services.registry.service.start_outcomes import StartOutcomes

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class StartFailed(Exception):
    """Some agents' create calls failed: the first error, and every agent that failed."""

    def __init__(self, error: BaseException, failed_agent_ids: tuple[str, ...]) -> None:
        super().__init__(str(error))
        self.error = error
        self.failed_agent_ids = failed_agent_ids


@dataclass(slots=True)
class Starter:
    store: SessionStarts
    agents: AgentClient
    wakeup: asyncio.Event
    outcomes: StartOutcomes
    batch: int = 256  # sessions claimed in one transaction at most
    concurrency: int = 32  # starts in flight at once, per replica
    start_timeout: float = 50.0  # per start, from when it begins (rule R-SLOW-AGENT)
    poll_interval: float = 1.0
    # Cluster sessions: their network, host names and environment (docs/cluster-sessions.md).
    cluster: ClusterLaunches = field(default_factory=ClusterLaunches)
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)
    _stopping: bool = False

    async def run(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                # The starts finishing in the same turn free their slots too: one bigger claim
                # instead of one claim transaction per freed slot.
                await asyncio.sleep(0)
                continue
            limit = min(self.batch, free)
            claimed = await self._claim(limit)
            for prep in claimed:
                task = asyncio.create_task(self.start(prep), name="start-session")
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if len(claimed) < limit:
                await self._sleep()
        # Drained: claim nothing more, but stay up until cancelled (a returning loop would be
        # restarted at once by its supervisor).
        await asyncio.get_running_loop().create_future()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def drain(self, deadline: float) -> None:
        """Stop claiming; let in-flight starts finish for up to `deadline` seconds, then
        interrupt the rest (each goes back to the queue, rule R-REQUEUE)."""
        self._stopping = True
        self.wakeup.set()
        if not self._inflight:
            return
        _, late = await asyncio.wait(set(self._inflight), timeout=deadline)
        for task in late:
            task.cancel()
        if late:
            log.warning("interrupting %d starts still running at shutdown", len(late))
            await asyncio.wait(late)

    async def _claim(self, limit: int) -> list[PreparingSession]:
        try:
            return await self.store.claim_scheduled(limit)  # PREPARING staged in the outbox
        except Exception:
            log.exception("claiming scheduled sessions failed")
            return []

    async def _sleep(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11, wait_for can swallow a cancellation that
        # arrives as the wakeup fires, and a drained starter would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self.wakeup.wait()
        self.wakeup.clear()

    async def start(self, prep: PreparingSession) -> None:
        """Create every kernel of one session on its agent. Never raises: whatever happens to
        this start (even a bug below) is handled here and touches no other start."""
        session = prep.session
        token = attach_trace_context(session.trace_context)
        try:
            with tracer.start_as_current_span("start session") as span:
                span.set_attribute("shipyard.session_id", session.session_id)
                started = await asyncio.wait_for(self._create_all(prep), self.start_timeout)
            await self._quietly(self.outcomes.succeeded(prep, started))
        except StartFailed as failed:
            await self._quietly(self.outcomes.failed(prep, failed.error, failed.failed_agent_ids))
        except TimeoutError as exc:
            agents = tuple(sorted({t.agent_id for t in prep.targets}))
            error = TimeoutError(f"the start did not finish within {self.start_timeout:g} s")
            error.__cause__ = exc
            await self._quietly(self.outcomes.failed(prep, error, agents))
        except asyncio.CancelledError:
            # Shutdown interrupted the start: the session goes back to the queue.
            interrupted = ConnectionAbortedError("the registry shut down during the start")
            await asyncio.shield(self._quietly(self.outcomes.failed(prep, interrupted, ())))
            raise
        except Exception as exc:
            log.exception("starting session %s failed", session.session_id)
            await self._quietly(self.outcomes.failed(prep, exc, ()))
        finally:
            detach(token)

    async def _quietly(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.exception("recording a start outcome failed; reconciliation will retry")

    async def _create_all(self, prep: PreparingSession) -> tuple[str, ...]:
        """Create the kernels on every agent of the session; the agents whose calls worked."""
        by_address = await self.cluster.plan(prep)
        agent_of = {t.agent_address: t.agent_id for t in prep.targets}
        addresses = list(by_address)
        calls = [self.agents.create_kernels(a, by_address[a]) for a in addresses]
        # All agents get their calls; the first failure (not a wrapper group) is the reason.
        results = await asyncio.gather(*calls, return_exceptions=True)
        outcomes = list(zip(addresses, results, strict=True))
        failed = [(agent_of[a], r) for a, r in outcomes if r is not None]
        started = tuple(agent_of[a] for a, r in outcomes if r is None)
        if failed:
            error = failed[0][1]
            assert isinstance(error, BaseException)
            raise StartFailed(error, tuple(a for a, _ in failed))
        return started
