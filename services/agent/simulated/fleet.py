"""A fleet of simulated agents: real registration and (batched) heartbeats, instant kernels.

Like Kubernetes' hollow nodes: every agent registers through the registry's API with its own
id and capacity and is timed and lost on its own, but kernels only exist as records here and
"start" at once (their STARTED event goes out while CreateKernels answers). One gRPC server
serves them all: each agent registers the address "host:port#<agent id>", and the registry
sends the address it dialled with every call (docs/simulated-agents.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from libs.core.errors import NotFound, ShipyardError
from services.agent.adapters.registry_client import AgentCredential
from services.agent.service.outbound import (
    AgentInfo,
    AgentRegistry,
    KernelEvent,
    Phase,
)

log = logging.getLogger(__name__)

BACKEND = "simulated"
# What every simulated agent reports having (any image "runs", see the scheduler's
# PULLING_BACKENDS): the registry's default image, so sessions resolve without a rescan.
DEFAULT_IMAGES = ("docker.io/library/python:3.11",)
# Heartbeats per HeartbeatBatch call.
BATCH = 5000


@dataclass(slots=True)
class SimulatedAgent:
    info: AgentInfo
    kernels: dict[str, str] = field(default_factory=dict)  # kernel id → session id
    silent: bool = False  # stops heartbeating (to be detected as lost)
    # Its own credential, from its registration: proofs and event signatures (docs/access.md).
    credential: AgentCredential = field(default_factory=AgentCredential)
    registered: bool = False  # heartbeats go only for agents the registry has seen


class SignedEvents(Protocol):
    """Publishing kernel events, each signed with the credential of the agent it names."""

    async def publish(
        self, event: KernelEvent, credential: AgentCredential | None = None
    ) -> None: ...


class BatchHeartbeats(Protocol):
    """The part of the registry API a fleet uses beyond registration."""

    async def heartbeat_batch(
        self,
        beats: Sequence[tuple[AgentInfo, Sequence[str], AgentCredential]],
        images: Sequence[str],
    ) -> list[str]:
        """Heartbeats of many agents (with their live kernels and, shared by all, their
        images); the ids to register again."""
        ...


class Fleet:
    def __init__(
        self,
        *,
        registry: AgentRegistry,
        heartbeats: BatchHeartbeats,
        events: SignedEvents,
        images: Sequence[str] = DEFAULT_IMAGES,
        register_concurrency: int = 32,
    ) -> None:
        self._images = list(images)
        self._registry = registry
        self._heartbeats = heartbeats
        self._events = events
        self._agents: dict[str, SimulatedAgent] = {}
        self._by_address: dict[str, str] = {}
        self._gate = asyncio.Semaphore(register_concurrency)

    def add(self, infos: Sequence[AgentInfo]) -> None:
        """Agents to simulate (registered by register_all)."""
        for info in infos:
            self._agents[info.agent_id] = SimulatedAgent(info)
            self._by_address[info.address] = info.agent_id

    @property
    def agents(self) -> dict[str, SimulatedAgent]:
        return self._agents

    def agent_at(self, address: str) -> SimulatedAgent:
        agent_id = self._by_address.get(address)
        if agent_id is None:
            raise NotFound(f"no simulated agent at {address!r}")
        return self._agents[agent_id]

    def silence(self, agent_ids: Sequence[str]) -> None:
        """These agents stop heartbeating (they stay registered until the registry notices)."""
        for agent_id in agent_ids:
            self._agents[agent_id].silent = True

    async def register_all(self) -> float | None:
        """Register every agent not registered yet; the heartbeat interval the registry asked
        for. Heartbeats may already run: a large fleet takes longer to register than the
        registry waits for an agent's first heartbeat."""
        todo = [a for a in self._agents.values() if not a.registered]
        intervals = await asyncio.gather(*(self._register(a) for a in todo))
        return next((i for i in intervals if i is not None), None)

    async def register_first(self) -> float | None:
        """Register one agent: the registry's heartbeat interval, before the others."""
        first = next(iter(self._agents.values()), None)
        return await self._register(first) if first is not None else None

    async def _register(self, agent: SimulatedAgent) -> float | None:
        async with self._gate:
            registration = await self._registry.register(
                agent.info, list(agent.kernels), self._images
            )
        agent.credential.set(registration.agent_secret)
        agent.registered = True
        for kernel_id in registration.kernels_to_destroy:
            agent.kernels.pop(kernel_id, None)
        return registration.heartbeat_interval

    async def beat_once(self) -> int:
        """One round of batched heartbeats; re-registers the agents the registry forgot.
        Returns how many agents had to register again."""
        live = [a for a in self._agents.values() if a.registered and not a.silent]
        again: list[str] = []
        for start in range(0, len(live), BATCH):
            chunk = live[start : start + BATCH]
            again += await self._heartbeats.heartbeat_batch(
                [(a.info, list(a.kernels), a.credential) for a in chunk], self._images
            )
        await asyncio.gather(*(self._register(self._agents[a]) for a in again))
        return len(again)

    async def run_heartbeats(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat_once()
            except ShipyardError as exc:
                log.warning("heartbeat round failed: %s", exc.message)

    async def create(self, address: str, kernels: Sequence[tuple[str, str]]) -> None:
        """(kernel id, session id) pairs start at once on the agent at `address`."""
        agent = self.agent_at(address)
        for kernel_id, session_id in kernels:
            agent.kernels[kernel_id] = session_id
        await asyncio.gather(
            *(self._publish(agent, k, s, Phase.STARTED, "started") for k, s in kernels)
        )

    async def destroy(self, address: str, kernel_id: str, session_id: str, reason: str) -> None:
        agent = self.agent_at(address)
        known = agent.kernels.pop(kernel_id, None)
        await self._publish(agent, kernel_id, known or session_id, Phase.TERMINATED, reason)

    async def _publish(
        self, agent: SimulatedAgent, kernel_id: str, session_id: str, phase: Phase, reason: str
    ) -> None:
        await self._events.publish(
            KernelEvent(
                kernel_id=kernel_id,
                session_id=session_id,
                agent_id=agent.info.agent_id,
                phase=phase,
                reason=reason,
            ),
            agent.credential,
        )


def fleet_infos(
    *,
    count: int,
    host: str,
    port: int,
    prefix: str,
    resource_group: str,
    cpu: Decimal,
    mem_bytes: int,
    architecture: str = "amd64",
) -> list[AgentInfo]:
    """`count` agents named <prefix>-00000…, all served at host:port."""
    width = max(5, len(str(count - 1)))
    infos = []
    for n in range(count):
        agent_id = f"{prefix}-{n:0{width}d}"
        infos.append(
            AgentInfo(
                agent_id=agent_id,
                address=f"{host}:{port}#{agent_id}",
                resource_group=resource_group,
                cpu=cpu,
                mem_bytes=mem_bytes,
                backend=BACKEND,
                architecture=architecture,
            )
        )
    return infos
