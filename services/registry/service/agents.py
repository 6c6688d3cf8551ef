"""Agent registration, heartbeats, loss detection and re-sent destroys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.registry.domain.model import MAX_LIFETIME_EXCEEDED, Agent
from services.registry.service.destroy_session import tell_agents
from services.registry.service.ports import (
    AgentClient,
    AgentRegistration,
    AgentStore,
    HeartbeatClock,
)
from services.registry.service.session_ports import SessionEnding

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentLifecycle:
    agent_store: AgentStore
    session_store: SessionEnding
    clock: HeartbeatClock
    agents: AgentClient
    heartbeat_timeout: timedelta = timedelta(seconds=40)
    # Longer than the starter's own bound (50 s) plus event delivery: only truly lost starts.
    prepare_timeout: timedelta = timedelta(seconds=120)

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

    async def heartbeat(self, agent_id: str, images: Sequence[str] | None = None) -> bool:
        """Record a heartbeat; False when the agent is unknown and must register again.

        A changed image inventory (a pull finished, an image was removed) is recorded and
        broadcast, so that the scheduler prefers agents that need no pull.
        """
        now = datetime.now(UTC)
        before = await self.agent_store.touch(agent_id, now)
        if before is None:
            return False
        await self.clock.beat(agent_id, now)
        if images is not None and tuple(sorted(set(images))) != before.images:
            await self.agent_store.set_images(agent_id, images)
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
            if images is not None and tuple(sorted(set(images))) != before.images:
                await self.agent_store.set_images(agent_id, images)  # stages its event
        return sorted(set(beats) - set(known))

    async def list_agents(self) -> Sequence[Agent]:
        return await self.agent_store.list_agents()

    async def sweep(self, now: datetime | None = None) -> None:
        """Mark silent agents LOST, re-send destroys an agent missed, end expired sessions."""
        now = now or datetime.now(UTC)
        stale = await self.clock.stale(now - self.heartbeat_timeout)
        if stale:
            log.warning("agents lost (no heartbeat for %s): %s", self.heartbeat_timeout, stale)
            await self.agent_store.mark_lost(stale)
        stuck = await self.session_store.stale_terminating(now - timedelta(seconds=30))
        if stuck:
            await tell_agents(self.agents, stuck, "user-requested")
        await self._cancel_stale_preparing(now - self.prepare_timeout)
        await self._end_expired(now)

    async def _end_expired(self, now: datetime) -> None:
        """End running sessions past their owner's max_session_lifetime."""
        for session_id in await self.session_store.expired(now):
            log.info("session %s exceeded its max_session_lifetime; ending it", session_id)
            targets, _ = await self.session_store.begin_destroy(
                session_id, forced=True, reason=MAX_LIFETIME_EXCEEDED
            )
            await tell_agents(self.agents, targets, MAX_LIFETIME_EXCEEDED)

    async def _cancel_stale_preparing(self, older_than: datetime) -> None:
        """A session left PREPARING (its starter died, an event was lost) is cancelled, never
        stuck; its kernels are destroyed wherever they got to."""
        for prep in await self.session_store.stale_preparing(older_than):
            log.warning("session %s stuck in PREPARING; cancelling", prep.session.session_id)
            await self.session_store.cancel(
                prep.session.session_id,
                reason="preparing-timeout",
                error="the session did not start in time",
            )
            await tell_agents(self.agents, list(prep.targets), "preparing-timeout")

    async def run_sweeper(self, interval: float = 5.0) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("agent sweep failed")
            await asyncio.sleep(interval)
