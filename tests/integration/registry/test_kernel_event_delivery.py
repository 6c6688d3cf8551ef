"""A kernel event delivered twice through the stream changes the session once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2

from libs.core.ids import new_id
from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import StreamConsumer, last_entry_id
from services.registry.api.kernel_event_handler import KernelEventHandler
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def _started_event(kernel_id: str, session_id: str, agent_id: str) -> tuple[str, bytes]:
    event = events_pb2.Event(
        event_id=new_id(),
        kernel_lifecycle=events_pb2.KernelLifecycle(
            kernel_id=kernel_id,
            session_id=session_id,
            agent_id=agent_id,
            phase=events_pb2.KernelLifecycle.PHASE_STARTED,
            reason="started",
        ),
    )
    return event.event_id, event.SerializeToString()


async def test_duplicate_started_event_runs_the_session_once(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session())
    kernel_id = session.kernels[0].kernel_id
    await stores.sessions.bind(session.session_id, {kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)

    stream = f"{key_prefix}events:kernel"
    publisher = StreamPublisher(redis, stream)
    event_id, data = await _started_event(kernel_id, session.session_id, agent_id)
    # The agent retried its publish: the same event twice, then a second copy under a new id
    # (e.g. re-announced after a reconnect).
    await publisher.publish(event_id, data)
    await publisher.publish(event_id, data)
    other_id, other = await _started_event(kernel_id, session.session_id, agent_id)
    await publisher.publish(other_id, other)

    await stores.relay.drain()  # what the earlier steps staged
    before = await last_entry_id(redis, stores.events.stream)
    handler = KernelEventHandler(ApplyKernelEvent(stores.lifecycle))
    consumer = StreamConsumer(redis, stream, "registry", "node-1", handler, block_ms=10)
    await consumer.ensure_group()
    await consumer.read_new()

    assert (await stores.sessions.get(session.session_id)).status is Status.RUNNING
    await stores.relay.drain()
    published = await redis.xrange(stores.events.stream, min=f"({before}", max="+")
    statuses = []
    for _, fields in published:
        event = events_pb2.Event.FromString(fields[b"data"])
        if (
            event.WhichOneof("payload") == "session_status_changed"
            and event.session_status_changed.session_id == session.session_id
        ):
            statuses.append(event.session_status_changed.status)
    assert statuses == ["RUNNING"]
