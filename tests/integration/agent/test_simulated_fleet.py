"""A simulated fleet against the real registry: registration, batched heartbeats, instant
kernels reported on the event stream, and silent agents detected as lost."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2
from shipyard.registry.v1 import cluster_service_pb2 as cluster_pb
from shipyard.registry.v1 import cluster_service_pb2_grpc as cluster_grpc

from libs.core.slots import ResourceSlots
from libs.grpcutil.client import internal_channel
from services.agent.adapters.event_publisher import kernel_stream
from services.agent.config import Settings as AgentSettings
from services.agent.simulated.runtime import FleetOptions, RunningFleet, start_fleet
from services.registry.adapters.peer_clients import GrpcAgentClient
from services.registry.app import RunningRegistry
from services.registry.app import serve as serve_registry
from services.registry.config import Settings as RegistrySettings
from services.registry.service.ports import KernelLaunch
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.integration

ALIVE = cluster_pb.Agent.STATUS_ALIVE


@dataclass
class Registry:
    running: RunningRegistry
    prefix: str

    @property
    def port(self) -> int:
        return self.running.port


@pytest.fixture
async def registry(redis_url: str, internal_token: str) -> AsyncIterator[Registry]:
    db_name, db_url = await create_database()
    prefix = f"fleet:{secrets.token_hex(4)}:"
    running = await serve_registry(
        RegistrySettings(
            internal_token=internal_token,
            database_url=db_url,
            redis_url=redis_url,
            redis_prefix=prefix,
            bind="127.0.0.1:0",
            heartbeat_interval=0.3,
            heartbeat_timeout=2.0,
            sweep_interval=0.3,
        )
    )
    yield Registry(running, prefix)
    await running.stop()
    await drop_database(db_name)


@pytest.fixture
async def fleet(
    registry: Registry, redis_url: str, internal_token: str
) -> AsyncIterator[RunningFleet]:
    settings = AgentSettings(
        internal_token=internal_token,
        redis_url=redis_url,
        redis_prefix=registry.prefix,
        registry_addr=f"127.0.0.1:{registry.port}",
    )
    running = await start_fleet(settings, FleetOptions(count=20, prefix="fleet", cpu=Decimal(8)))
    yield running
    await running.stop()


async def _agents(registry: Registry, internal_token: str) -> dict[str, int]:
    channel = internal_channel(f"127.0.0.1:{registry.port}", internal_token)
    try:
        stub = cluster_grpc.ClusterServiceStub(channel)
        reply = await stub.ListAgents(cluster_pb.ListAgentsRequest())
        return {a.agent_id: a.status for a in reply.agents}
    finally:
        await channel.close()


async def test_every_simulated_agent_registers_and_stays_alive_on_batched_heartbeats(
    fleet: RunningFleet, registry: Registry, internal_token: str
) -> None:
    agents = await _agents(registry, internal_token)
    assert len(agents) == 20
    assert set(agents.values()) == {ALIVE}
    assert await fleet.fleet.beat_once() == 0  # all known: nobody re-registers
    # Well past the heartbeat timeout (2 s), the batched heartbeats keep every agent alive.
    await asyncio.sleep(3.0)
    assert set((await _agents(registry, internal_token)).values()) == {ALIVE}


async def test_a_silent_simulated_agent_is_detected_as_lost(
    fleet: RunningFleet, registry: Registry, internal_token: str
) -> None:
    silent = sorted(fleet.fleet.agents)[:3]
    fleet.fleet.silence(silent)
    lost: dict[str, int] = {}

    async def poll() -> bool:
        lost.update(await _agents(registry, internal_token))
        return all(lost[a] != ALIVE for a in silent)

    await wait_until_async(poll, timeout=15.0)
    others = [a for a in sorted(lost) if a not in silent]
    assert len(others) == 17
    assert all(lost[a] == ALIVE for a in others)

    # Heard from again, the lost agents are told to register and come back.
    for agent_id in silent:
        fleet.fleet.agents[agent_id].silent = False
    assert await fleet.fleet.beat_once() == 3
    assert set((await _agents(registry, internal_token)).values()) == {ALIVE}


async def test_kernels_start_at_once_on_the_addressed_agent_and_report_started(
    fleet: RunningFleet, registry: Registry, internal_token: str, redis: Redis
) -> None:
    target = fleet.fleet.agents["fleet-00007"]
    client = GrpcAgentClient(internal_token)
    kernel_id = "0b5e3c5e-4f8a-4e43-9a57-6a1d2f3c4b5a"
    try:
        await client.create_kernels(
            target.info.address,
            [
                KernelLaunch(
                    kernel_id=kernel_id,
                    session_id="6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
                    image="docker.io/library/python:3.11",
                    slots=ResourceSlots({"cpu": "1"}),
                    mounts=(),
                    environ={},
                    startup_command="",
                )
            ],
        )
    finally:
        await client.close()
    assert list(target.kernels) == [kernel_id]
    assert all(not a.kernels for n, a in fleet.fleet.agents.items() if n != "fleet-00007")
    entries = await redis.xrange(kernel_stream(registry.prefix))
    started = []
    for _, fields in entries:
        event = events_pb2.Event.FromString(fields[b"data"])
        if event.kernel_lifecycle.kernel_id == kernel_id:
            started.append(event.kernel_lifecycle)
    assert [(e.agent_id, e.phase) for e in started] == [
        ("fleet-00007", events_pb2.KernelLifecycle.PHASE_STARTED)
    ]


async def wait_until_async(check: Callable[[], Awaitable[bool]], *, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.2)
