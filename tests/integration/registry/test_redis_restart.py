"""After Redis loses everything (it keeps nothing on disk here), the registry's kernel event
consumer recreates its stream and group and applies what agents publish next, and the relay
publishes what is still in the outbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2

from libs.core.ids import new_id
from libs.core.tasks import keep_running
from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import StreamConsumer
from services.registry.adapters.redis_events import StreamSessionWaiter
from services.registry.api.kernel_event_handler import KernelEventHandler
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_kernel_events_flow_again_after_redis_forgot_the_group(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session())
    kernel_id = session.kernels[0].kernel_id
    await stores.sessions.bind(session.session_id, {kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)

    stream = f"{key_prefix}events:kernel"
    handler = KernelEventHandler(ApplyKernelEvent(stores.lifecycle))
    consumer = StreamConsumer(redis, stream, "registry", "node-1", handler, block_ms=50)
    await consumer.ensure_group()
    running = asyncio.create_task(keep_running("kernel events", consumer.run))
    try:
        await asyncio.sleep(0.2)
        # Redis restarted empty: the stream and its consumer group are gone.
        await redis.delete(stream)
        started = events_pb2.Event(
            event_id=new_id(),
            kernel_lifecycle=events_pb2.KernelLifecycle(
                kernel_id=kernel_id,
                session_id=session.session_id,
                agent_id=agent_id,
                phase=events_pb2.KernelLifecycle.PHASE_STARTED,
            ),
        )
        await StreamPublisher(redis, stream).publish(started.event_id, started.SerializeToString())

        async def running_now() -> bool:
            return (await stores.sessions.get(session.session_id)).status is Status.RUNNING

        await _until(running_now)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    # The RUNNING change staged in the outbox reaches the (recreated) cluster stream.
    await redis.delete(stores.events.stream)
    await stores.relay.drain()
    entries = await redis.xrange(stores.events.stream)
    statuses = [
        e.session_status_changed.status
        for e in (events_pb2.Event.FromString(f[b"data"]) for _, f in entries)
        if e.session_status_changed.session_id == session.session_id
    ]
    assert Status.RUNNING.value in statuses


async def test_a_restarted_session_waiter_wakes_every_waiting_call(stores: Stores) -> None:
    # The waiter's loop is restarted after a Redis error; changes published meanwhile were
    # never seen, so every waiting CreateSession must re-read its session at once.
    waiter = StreamSessionWaiter(stores.events)
    flag = waiter.subscribe(new_id())
    running = asyncio.create_task(waiter.run())
    try:
        async with asyncio.timeout(5):
            await flag.wait()
        # Let it settle into its blocking read: a cancel that lands while the client is still
        # sending its first command can leave redis-py waiting on the socket forever.
        await asyncio.sleep(0.3)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
