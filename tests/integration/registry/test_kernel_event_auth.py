"""Kernel events through the real stream: only those signed by the agent they name count."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import StreamConsumer
from services.agent.adapters.event_publisher import to_event
from services.agent.adapters.registry_client import AgentCredential
from services.agent.service.outbound import KernelEvent, Phase
from services.registry.api.kernel_event_handler import KernelEventHandler
from services.registry.domain.agent_auth import AgentAuth
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session
from tests.integration.registry.start_helpers import new_agent

pytestmark = pytest.mark.integration

AUTH = AgentAuth("registry-key")


def credential(agent_id: str) -> AgentCredential:
    c = AgentCredential()
    c.set(AUTH.secret_for(agent_id))
    return c


async def test_forged_kernel_events_are_dropped_and_genuine_ones_applied(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    agent_id = await new_agent(stores)
    other = await new_agent(stores)
    session, _ = await stores.sessions.add(new_session())
    kernel_id = session.kernels[0].kernel_id
    await stores.sessions.bind(session.session_id, {kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)
    started = KernelEvent(
        kernel_id=kernel_id, session_id=session.session_id, agent_id=agent_id, phase=Phase.STARTED
    )
    stream = f"{key_prefix}events:kernel"
    publisher = StreamPublisher(redis, stream)
    handler = KernelEventHandler(ApplyKernelEvent(stores.lifecycle), AUTH)
    consumer = StreamConsumer(redis, stream, "registry", "node-1", handler, block_ms=10)
    await consumer.ensure_group()

    # Written straight to Redis, or by another agent claiming to be this one: no effect.
    for forged in (to_event(started), to_event(started, credential(other))):
        await publisher.publish(forged.event_id, forged.SerializeToString())
    await consumer.read_new()
    assert (await stores.sessions.get(session.session_id)).status is Status.PREPARING

    genuine = to_event(started, credential(agent_id))
    await publisher.publish(genuine.event_id, genuine.SerializeToString())
    await consumer.read_new()
    assert (await stores.sessions.get(session.session_id)).status is Status.RUNNING
