"""The transactional outbox (rule R-OUTBOX): events survive a failed publish, retries
re-announce, and the relay publishes each committed change."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from shipyard.events.v1 import events_pb2
from shipyard.registry.v1.user_event_service_pb2 import WatchEventsResponse

from libs.core.ids import new_id
from libs.events.streams import last_entry_id
from services.registry.adapters.outbox_relay import OutboxRelay
from services.registry.adapters.user_events import USER_STREAM
from services.registry.domain.model import Status
from services.registry.service.ports import SessionPlacement
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def _published(redis: Redis, stream: str, after: str) -> list[events_pb2.Event]:
    entries = await redis.xrange(stream, min=f"({after}", max="+")
    return [events_pb2.Event.FromString(fields[b"data"]) for _, fields in entries]


def _enqueued(events: list[events_pb2.Event], session_id: str) -> int:
    return sum(
        1
        for e in events
        if e.WhichOneof("payload") == "session_enqueued"
        and e.session_enqueued.session_id == session_id
    )


async def test_an_event_whose_publish_failed_after_commit_is_still_delivered(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    await stores.relay.drain()
    before = await last_entry_id(redis, stores.events.stream)
    session, created = await stores.sessions.add(new_session())
    assert created
    # Redis is unreachable when the relay first tries: the session row is committed already.
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    broken = OutboxRelay(stores.engine, stores.factory, dead, key_prefix)
    with pytest.raises(RedisConnectionError):
        await broken.relay_once()
    await dead.aclose()
    assert _enqueued(await _published(redis, stores.events.stream, before), session.session_id) == 0

    await stores.relay.drain()  # Redis is back
    events = await _published(redis, stores.events.stream, before)
    assert _enqueued(events, session.session_id) == 1
    assert all(e.event_id for e in events)


async def test_a_retried_create_re_announces_a_session_still_pending(
    stores: Stores, redis: Redis
) -> None:
    await stores.relay.drain()
    before = await last_entry_id(redis, stores.events.stream)
    first = new_session(token=f"tok-{new_id()[:8]}")
    session, _ = await stores.sessions.add(first)
    retry = new_session(token=first.client_token, access_key=first.access_key)
    again, created = await stores.sessions.add(retry)
    assert not created and again.session_id == session.session_id
    await stores.relay.drain()
    assert _enqueued(await _published(redis, stores.events.stream, before), session.session_id) == 2


async def test_a_retried_create_of_a_placed_session_announces_nothing(
    stores: Stores, redis: Redis
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    first = new_session(token=f"tok-{new_id()[:8]}")
    session, _ = await stores.sessions.add(first)
    await stores.sessions.bind(session.session_id, {session.kernels[0].kernel_id: agent_id})
    await stores.relay.drain()
    before = await last_entry_id(redis, stores.events.stream)
    await stores.sessions.add(new_session(token=first.client_token, access_key=first.access_key))
    await stores.relay.drain()
    assert _enqueued(await _published(redis, stores.events.stream, before), session.session_id) == 0


async def test_the_relay_publishes_agent_occupancy_before_the_status_it_explains(
    stores: Stores, redis: Redis
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session(cpu="2"))
    await stores.relay.drain()
    before = await last_entry_id(redis, stores.events.stream)
    await stores.sessions.bind(session.session_id, {session.kernels[0].kernel_id: agent_id})
    await stores.relay.drain()
    kinds = [
        (e.WhichOneof("payload"), e.session_status_changed.status)
        for e in await _published(redis, stores.events.stream, before)
    ]
    assert kinds == [("agent_changed", ""), ("session_status_changed", Status.SCHEDULED.value)]


async def test_two_relays_share_the_outbox_without_publishing_an_event_twice(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    await stores.relay.drain()
    before = await last_entry_id(redis, stores.events.stream)
    user_stream = f"{key_prefix}events:user"
    user_before = await last_entry_id(redis, user_stream)
    ids = [(await stores.sessions.add(new_session()))[0].session_id for _ in range(60)]
    relays = [
        OutboxRelay(stores.engine, stores.factory, redis, key_prefix, batch=7) for _ in range(2)
    ]
    await asyncio.gather(*(r.drain() for r in relays))
    events = await _published(redis, stores.events.stream, before)
    assert [_enqueued(events, i) for i in ids] == [1] * len(ids)
    # Each create also stages its owner's session_enqueued (docs/events.md).
    user_events = await redis.xrange(user_stream, min=f"({user_before}", max="+")
    assert len(user_events) == len(ids)
    assert sum(r.published for r in relays) == len(events) + len(user_events)


async def test_a_running_relay_publishes_each_commit(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    await stores.relay.drain()
    before = await last_entry_id(redis, stores.events.stream)
    relay = OutboxRelay(stores.engine, stores.factory, redis, key_prefix, poll_interval=30)
    running = asyncio.create_task(relay.run())
    try:
        session, _ = await stores.sessions.add(new_session())
        # Woken by NOTIFY: the 30 s poll would outlast this wait.
        seen: list[events_pb2.Event] = []
        position = before
        async with asyncio.timeout(10):
            while not _enqueued(seen, session.session_id):
                resp = await redis.xread({stores.events.stream: position}, block=500)
                for _, items in resp or []:
                    for entry_id, fields in items:
                        position = entry_id
                        seen.append(events_pb2.Event.FromString(fields[b"data"]))
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_batch_bind_reaches_both_streams_whole_and_in_order(
    stores: Stores, redis: Redis
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="8", mem="1e9"), datetime.now(UTC))
    sessions = [(await stores.sessions.add(new_session()))[0] for _ in range(5)]
    await stores.relay.drain()
    user_stream = stores.relay.stream(USER_STREAM)
    before = await last_entry_id(redis, stores.events.stream)
    user_before = await last_entry_id(redis, user_stream)
    placements = [
        SessionPlacement(session_id=s.session_id, kernels={s.kernels[0].kernel_id: agent_id})
        for s in sessions
    ]
    outcomes = await stores.sessions.bind_many(placements)
    assert [o.conflict for o in outcomes] == [""] * len(sessions)
    # One relay batch, one Redis call, two streams.
    assert await stores.relay.relay_once() == 2 * len(sessions) + 1
    cluster = await _published(redis, stores.events.stream, before)
    assert cluster[0].WhichOneof("payload") == "agent_changed"
    scheduled = [e.session_status_changed.session_id for e in cluster[1:]]
    assert scheduled == [s.session_id for s in sessions]
    entries = await redis.xrange(user_stream, min=f"({user_before}", max="+")
    user = [WatchEventsResponse.FromString(fields[b"data"]) for _, fields in entries]
    assert [(u.name, u.event.session_id) for u in user] == [
        ("session_scheduled", s.session_id) for s in sessions
    ]
