"""Agent registration, heartbeats, loss detection and re-sent destroys.

The stores stage every event their changes imply in the same transaction (rule R-OUTBOX):
nothing is published from here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.registry.domain.model import Agent
from services.registry.domain.schedulability import SchedulabilityPolicy
from services.registry.domain.utilization import KernelStats
from services.registry.service.destroy_session import tell_agents
from services.registry.service.idle_ports import KernelStatsStore
from services.registry.service.ports import (
    AgentClient,
    AgentRegistration,
    AgentStore,
    HeartbeatClock,
)
from services.registry.service.session_ports import SessionEnding
from services.registry.service.start_ports import AgentHealthStore, LostAgentSessions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentLifecycle:
    agent_store: AgentStore
    session_store: SessionEnding
    clock: HeartbeatClock
    agents: AgentClient
    heartbeat_timeout: timedelta = timedelta(seconds=40)
    health: AgentHealthStore | None = None
    schedulability: SchedulabilityPolicy = field(default_factory=SchedulabilityPolicy)
    # A lost agent's sessions wait this long for it to come back (rule R-LOST-GRACE).
    lost_grace: timedelta = timedelta(seconds=60)
    lost_sessions: LostAgentSessions | None = None
    # Called with a lost agent's address: its gRPC channel is closed.
    forget_channel: Callable[[str], None] = lambda _address: None
    # Where the kernels' stats that ride along with heartbeats go.
    kernel_stats: KernelStatsStore | None = None

    async def register(self, reg: AgentRegistration) -> list[str]:
        """Record the agent; return the kernels it runs that nobody expects (to destroy)."""
        now = datetime.now(UTC)
        to_destroy, _, _ = await self.agent_store.register(reg, now)
        await self.clock.beat(reg.agent_id, now)
        log.info(
            "agent %s registered at %s (%d stray kernels)",
            reg.agent_id,
            reg.address,
            len(to_destroy),
        )
        return to_destroy

    async def heartbeat(
        self,
        agent_id: str,
        images: Sequence[str] | None = None,
        health: tuple[bool, str] | None = None,
        stats: Sequence[KernelStats] = (),
    ) -> bool:
        """Record a heartbeat; False when the agent is unknown and must register again.

        A changed image inventory (a pull finished, an image was removed) is recorded and
        broadcast, so that the scheduler prefers agents that need no pull. A health report
        (healthy, reason) takes the agent out of scheduling or puts it back (rule R-AGENT-OUT).
        """
        now = datetime.now(UTC)
        before = await self.agent_store.touch(agent_id, now)
        if before is None:
            return False
        await self.clock.beat(agent_id, now)
        if self.kernel_stats is not None:
            await self.kernel_stats.record([s for s in stats if s.agent_id == agent_id])
        if images is not None and tuple(sorted(set(images))) != before.images:
            await self.agent_store.set_images(agent_id, images)
        if health is not None and self.health is not None:
            healthy, reason = health
            flipped = await self.health.report_health(
                agent_id, healthy=healthy, reason=reason, now=now, policy=self.schedulability
            )
            if flipped is not None:
                log.warning(
                    "agent %s is %s", agent_id, flipped.unschedulable_reason or "schedulable again"
                )
        return True

    async def heartbeat_many(self, beats: Mapping[str, Sequence[str] | None]) -> list[str]:
        """Heartbeats of many agents (agent id → images, None when not reported) with one
        query and one Redis write; the agents that must register again, sorted. Each agent
        is still timed, and lost, on its own (rule R-HEARTBEAT-OFF-DB)."""
        now = datetime.now(UTC)
        known = await self.agent_store.touch_many(list(beats))
        await self.clock.beat_many(sorted(known), now)
        for agent_id, before in known.items():
            images = beats[agent_id]
            if images is not None and tuple(sorted(set(images))) != before:
                await self.agent_store.set_images(agent_id, images)
        return sorted(set(beats) - set(known))

    async def drain(self, agent_id: str, reason: str) -> Agent:
        """Take the agent out of scheduling until it registers again; its kernels keep running."""
        if self.health is None:
            raise RuntimeError("agent health store is not configured")
        agent = await self.health.drain(agent_id, reason or "requested", datetime.now(UTC))
        log.info("agent %s drains: %s", agent_id, agent.unschedulable_reason)
        return agent

    async def list_agents(self) -> Sequence[Agent]:
        return await self.agent_store.list_agents()

    async def sweep(self, now: datetime | None = None) -> None:
        """Mark silent agents LOST (stuck sessions are the reconciler's, service/reconcile.py;
        expired and idle ones the idle checkers', service/idle_checks.py)."""
        now = now or datetime.now(UTC)
        await self._sweep_heartbeats(now)
        await self._settle_lost(now)

    async def _settle_lost(self, now: datetime) -> None:
        """Sessions on agents lost for longer than the grace end "agent-lost" (or go back to
        the queue if they asked to); an agent back within the grace re-adopts its kernels."""
        if self.lost_sessions is None:
            return
        changes, elsewhere = await self.lost_sessions.settle(now - self.lost_grace, now)
        for change in changes:
            log.warning("session %s: agent lost (%s)", change.session_id, change.status)
        await tell_agents(self.agents, elsewhere, "agent-lost")

    async def _sweep_heartbeats(self, now: datetime) -> None:
        """Loss is committed in PostgreSQL first; only then are the heartbeat entries removed,
        and only those no heartbeat changed meanwhile (rule R-SWEEP)."""
        alive = await self.agent_store.alive_ids()
        # After a Redis restart the hash is empty: a missing entry counts from now (grace).
        adopted = await self.clock.first_sight(alive, now)
        if adopted:
            log.info("no heartbeat entry for %d alive agents; counting from now", len(adopted))
        stale = await self.clock.stale(now - self.heartbeat_timeout)
        if not stale:
            return
        ids = [b.agent_id for b in stale]
        log.warning("agents lost (no heartbeat for %s): %s", self.heartbeat_timeout, ids)
        for change in await self.agent_store.mark_lost(ids):
            for agent in change.agents:
                self.forget_channel(agent.address)
        await self.clock.forget(stale)

    async def run_sweeper(self, interval: float = 5.0) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("agent sweep failed")
            await asyncio.sleep(interval)
