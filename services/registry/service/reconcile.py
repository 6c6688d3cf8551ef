"""Reconciliation, periodic and at start-up (rule R-RECONCILE): sessions stuck in a transitional
state are driven forward, and every agent's occupied slots are recomputed from live kernels.

Safe with two replicas running it at once: every step locks the rows it changes and is a no-op
when another replica got there first (a re-queue only moves a session that is still starting;
a recomputation derives the same value).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.registry.domain.model import Agent
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import AgentClient
from services.registry.service.restart_session import RestartSession
from services.registry.service.session_ports import SessionEnding
from services.registry.service.start_outcomes import StartOutcomes

log = logging.getLogger(__name__)


class OccupancyStore(Protocol):
    async def recompute_all(self) -> list[Agent]:
        """Recompute every agent's occupied slots; the agents that had drifted (their events
        staged with the fix)."""
        ...


@dataclass(frozen=True, slots=True)
class Reconciler:
    sessions: SessionEnding
    occupancy: OccupancyStore
    outcomes: StartOutcomes
    agents: AgentClient
    # Longer than the starter's own deadline plus event delivery: only truly lost starts.
    prepare_timeout: timedelta = timedelta(seconds=120)
    terminating_timeout: timedelta = timedelta(seconds=30)
    restarts: RestartSession | None = None
    # Longer than an agent's wait for a restarted runner plus the call's deadline.
    restart_timeout: timedelta = timedelta(seconds=120)

    async def reconcile(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        await self._requeue_stuck_starts(now - self.prepare_timeout)
        if self.restarts is not None:
            await self.restarts.recover(now - self.restart_timeout)
        stuck = await self.sessions.stale_terminating(now - self.terminating_timeout)
        if stuck:
            log.info("re-sending destroy for %d kernels stuck in TERMINATING", len(stuck))
            await tell_agents(self.agents, stuck, "user-requested")
        for agent in await self.occupancy.recompute_all():
            log.warning("agent %s occupancy drifted; recomputed from its kernels", agent.agent_id)

    async def _requeue_stuck_starts(self, older_than: datetime) -> None:
        """A session left PREPARING (its starter replica died, an event was lost) is not its
        own fault: it goes back to the queue (rule R-REQUEUE), its kernels destroyed."""
        for prep in await self.sessions.stale_preparing(older_than):
            log.warning("session %s stuck in PREPARING; re-queueing", prep.session.session_id)
            error = TimeoutError(f"the session did not start within {self.prepare_timeout}")
            agents = tuple(sorted({t.agent_id for t in prep.targets if t.agent_id}))
            await self.outcomes.failed(prep, error, agents)

    async def run(self, interval: float = 30.0) -> None:
        """Once at start-up, then every `interval` seconds."""
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciliation failed")
            await asyncio.sleep(interval)
