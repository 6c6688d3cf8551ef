"""Kernel events applied a whole stream read at a time, and claims made many at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2

from libs.core.ids import new_id
from libs.events.batch_consumer import BatchStreamConsumer
from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import last_entry_id
from services.registry.adapters.user_events import RedisUserEvents
from services.registry.api.kernel_event_handler import KernelEventHandler
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import cluster_session, new_session, registration

pytestmark = pytest.mark.integration

Phase = events_pb2.KernelLifecycle.Phase


def _event(
    kernel_id: str, session_id: str, agent_id: str, phase: Phase, trace_id: str = ""
) -> tuple[str, bytes]:
    event = events_pb2.Event(
        event_id=new_id(),
        kernel_lifecycle=events_pb2.KernelLifecycle(
            kernel_id=kernel_id, session_id=session_id, agent_id=agent_id, phase=phase
        ),
    )
    if trace_id:  # the agent's span, as it propagates it (W3C traceparent)
        event.trace_context["traceparent"] = f"00-{trace_id}-{'1' * 16}-01"
    return event.event_id, event.SerializeToString()


async def _prepared(stores: Stores, kernels: int = 1) -> tuple[str, list[str], str]:
    """A session of `kernels` kernels on one new agent, claimed (PREPARING)."""
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="8"), datetime.now(UTC))
    new = cluster_session(kernels) if kernels > 1 else new_session()
    session, _ = await stores.sessions.add(new)
    kernel_ids = [k.kernel_id for k in session.kernels]
    assert (
        await stores.sessions.bind(session.session_id, dict.fromkeys(kernel_ids, agent_id))
    ).bound
    await stores.lifecycle.claim_scheduled(1000)
    return session.session_id, kernel_ids, agent_id


class _Events:
    """A kernel stream, a batch consumer on it, and what the registry published meanwhile."""

    def __init__(self, stores: Stores, redis: Redis, key_prefix: str) -> None:
        self.stores = stores
        self.redis = redis
        self.stream = f"{key_prefix}events:kernel:{new_id()[:8]}"
        self.publisher = StreamPublisher(redis, self.stream)
        self.handler = KernelEventHandler(ApplyKernelEvent(stores.lifecycle))
        self.consumer = BatchStreamConsumer(
            redis, self.stream, "registry", "node-1", self.handler, self.handler.batch,
            block_ms=10,
        )  # fmt: skip
        self.before = "0-0"

    async def start(self) -> None:
        """From now on: what the sessions prepared so far staged is not counted."""
        await self.stores.relay.drain()
        self.before = await last_entry_id(self.redis, self.stores.events.stream)
        await self.consumer.ensure_group()

    async def statuses(self, session_id: str) -> list[str]:
        """The session's status changes published since `start`."""
        return [e.session_status_changed.status for e in await self.changes(session_id)]

    async def changes(self, session_id: str) -> list[events_pb2.Event]:
        await self.stores.relay.drain()
        published = await self.redis.xrange(
            self.stores.events.stream, min=f"({self.before}", max="+"
        )
        found = []
        for _, fields in published:
            event = events_pb2.Event.FromString(fields[b"data"])
            change = event.session_status_changed
            if event.WhichOneof("payload") == "session_status_changed" and (
                change.session_id == session_id
            ):
                found.append(event)
        return found

    async def pending(self) -> int:
        info = await self.redis.xpending(self.stream, "registry")
        return int(info["pending"])


@pytest.fixture
async def events(stores: Stores, redis: Redis, key_prefix: str) -> _Events:
    return _Events(stores, redis, key_prefix)


async def test_a_batch_with_a_repeat_and_an_unknown_kernel_runs_the_session_once(
    stores: Stores, events: _Events
) -> None:
    session_id, [kernel_id], agent_id = await _prepared(stores)
    await events.start()
    creating = _event(kernel_id, session_id, agent_id, Phase.PHASE_CREATING)
    started = _event(kernel_id, session_id, agent_id, Phase.PHASE_STARTED)
    stranger = _event(new_id(), new_id(), agent_id, Phase.PHASE_STARTED)
    for event_id, data in (creating, stranger, started, started, creating):
        await events.publisher.publish(event_id, data)

    assert await events.consumer.read_new() == 5

    assert (await stores.sessions.get(session_id)).status is Status.RUNNING
    assert await events.statuses(session_id) == ["RUNNING"]
    assert await events.pending() == 0


async def test_events_of_two_kernels_of_one_cluster_session_in_one_batch(
    stores: Stores, events: _Events
) -> None:
    session_id, kernel_ids, agent_id = await _prepared(stores, kernels=2)
    await events.start()
    for kernel_id in kernel_ids:
        await events.publisher.publish(
            *_event(kernel_id, session_id, agent_id, Phase.PHASE_STARTED)
        )

    await events.consumer.read_new()

    session = await stores.sessions.get(session_id)
    assert session.status is Status.RUNNING
    assert [k.status for k in session.kernels] == [Status.RUNNING, Status.RUNNING]
    assert await events.statuses(session_id) == ["RUNNING"]


async def test_each_session_change_continues_the_trace_of_the_event_that_caused_it(
    stores: Stores, events: _Events
) -> None:
    first, [first_kernel], agent_id = await _prepared(stores)
    second, [second_kernel], other_agent = await _prepared(stores)
    await events.start()
    traces = {first: "a" * 32, second: "b" * 32}
    await events.publisher.publish(
        *_event(first_kernel, first, agent_id, Phase.PHASE_STARTED, traces[first])
    )
    await events.publisher.publish(
        *_event(second_kernel, second, other_agent, Phase.PHASE_STARTED, traces[second])
    )

    await events.consumer.read_new()

    for session_id, trace_id in traces.items():
        [running] = await events.changes(session_id)
        assert running.session_status_changed.status == "RUNNING"
        assert running.trace_context["traceparent"].split("-")[1] == trace_id


async def test_a_poisoned_event_does_not_hold_back_the_rest_of_its_batch(
    stores: Stores, events: _Events
) -> None:
    first, [first_kernel], agent_id = await _prepared(stores)
    second, [second_kernel], other_agent = await _prepared(stores)
    await events.start()
    await events.publisher.publish(*_event(first_kernel, first, agent_id, Phase.PHASE_STARTED))
    await events.publisher.publish(new_id(), b"\xff not a protobuf message")
    await events.publisher.publish(*_event(second_kernel, second, other_agent, Phase.PHASE_STARTED))

    await events.consumer.read_new()

    assert (await stores.sessions.get(first)).status is Status.RUNNING
    assert (await stores.sessions.get(second)).status is Status.RUNNING
    # Only the poisoned entry waits for a retry (and, failing again, the dead-letter stream).
    assert await events.pending() == 1


async def test_two_starters_claiming_at_once_never_take_the_same_session(stores: Stores) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="64"), datetime.now(UTC))
    mine = set()
    for _ in range(40):
        session, _ = await stores.sessions.add(new_session(cpu="1", mem="10"))
        binding = {k.kernel_id: agent_id for k in session.kernels}
        assert (await stores.sessions.bind(session.session_id, binding)).bound
        mine.add(session.session_id)

    claims = await asyncio.gather(
        *(stores.lifecycle.claim_scheduled(limit) for limit in (7, 7, 13, 13, 256))
    )

    taken = [p.session.session_id for claim in claims for p in claim]
    assert len(taken) == len(set(taken))
    assert mine <= set(taken)
    for claim in claims:
        for prep in claim:
            assert prep.session.status is Status.PREPARING
            assert [t.agent_id for t in prep.targets] == [agent_id] * len(prep.targets) or (
                prep.session.session_id not in mine
            )
    for session_id in mine:
        assert (await stores.sessions.get(session_id)).status is Status.PREPARING


async def test_a_hand_outs_events_published_together_are_applied_in_one_read(
    stores: Stores, events: _Events, redis: Redis, key_prefix: str
) -> None:
    """The agent publishes a pre-started kernel's CREATING and STARTED in one MULTI: a consumer
    waiting in its read gets both, and its owner still sees the kernel created, then started."""
    session_id, [kernel_id], agent_id = await _prepared(stores)
    await events.start()
    shown = RedisUserEvents(redis, key_prefix)
    position = await shown.position()
    events.consumer = BatchStreamConsumer(
        redis, events.stream, "registry", "node-1", events.handler, events.handler.batch,
        block_ms=5000,
    )  # fmt: skip
    reader = asyncio.create_task(events.consumer.read_new())
    await asyncio.sleep(0.2)  # the reader waits in XREADGROUP

    await events.publisher.publish_together(
        [
            _event(kernel_id, session_id, agent_id, p)
            for p in (Phase.PHASE_CREATING, Phase.PHASE_STARTED)
        ]
    )

    assert await reader == 2
    assert (await stores.sessions.get(session_id)).status is Status.RUNNING
    assert await events.statuses(session_id) == ["RUNNING"]
    names = [e.name async for e in shown.history(position, session_id)]
    assert [n for n in names if n.startswith("kernel_")] == ["kernel_creating", "kernel_started"]
