"""User lifecycle events against the real PostgreSQL and Redis: derived in the transactions that
change sessions and kernels, relayed in order, resumable, and shown only to who may read the
session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from shipyard.registry.v1 import user_event_service_pb2 as pb

from libs.core.identity import Caller, Role
from libs.core.ids import new_id
from services.registry.adapters.session_names import SqlSessionNames
from services.registry.adapters.user_events import RedisUserEvents
from services.registry.domain.errors import SessionNameInUse, SessionNotFound
from services.registry.domain.model import Session, Status
from services.registry.service.event_ports import StoredUserEvent
from services.registry.service.watch_events import EventFilter, WatchUserEvents
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def _collect(events: AsyncIterator[StoredUserEvent], n: int = 0) -> list[StoredUserEvent]:
    """Every event of a watch that ends by itself, or its first `n`."""
    out: list[StoredUserEvent] = []
    async with asyncio.timeout(10):
        async for event in events:
            out.append(event)
            if n and len(out) == n:
                break
    return out


def _decoded(event: StoredUserEvent) -> pb.WatchEventsResponse:
    return pb.WatchEventsResponse.FromString(event.payload)


async def _run_to_exit(stores: Stores, exit_code: int) -> tuple[Session, str]:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session())
    kernel_id = session.kernels[0].kernel_id
    await stores.sessions.bind(session.session_id, {kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)
    report = stores.lifecycle.apply_kernel_status
    await report(
        kernel_id, Status.PREPARING, agent_id=agent_id, reason="creating", event_id=new_id()
    )
    await report(kernel_id, Status.RUNNING, agent_id=agent_id, reason="started", event_id=new_id())
    await report(
        kernel_id,
        Status.TERMINATED,
        agent_id=agent_id,
        reason="task-finished",
        exit_code=exit_code,
        event_id=new_id(),
    )
    await stores.relay.drain()
    return session, kernel_id


@pytest.fixture
def watch(stores: Stores, redis: Redis, key_prefix: str) -> WatchUserEvents:
    return WatchUserEvents(stores.sessions, RedisUserEvents(redis, key_prefix, block_ms=100))


async def test_a_session_life_is_told_in_order_and_resumes_after_an_event(
    stores: Stores, watch: WatchUserEvents
) -> None:
    session, kernel_id = await _run_to_exit(stores, exit_code=3)
    owner = Caller(user_id=session.owner_user_id, access_key=session.access_key)

    events = await _collect(watch.session(owner, session.session_id, ""))
    assert [e.name for e in events] == [
        "session_enqueued",
        "session_scheduled",
        "session_preparing",
        "kernel_creating",
        "kernel_started",
        "session_started",
        "kernel_terminated",
        "session_terminated",
    ]
    end = _decoded(events[-1])
    assert end.event_id == events[-1].event_id
    assert end.event.reason == "task-finished" and end.event.exit_code == 3
    assert _decoded(events[3]).event.kernel_id == kernel_id

    resumed = await _collect(watch.session(owner, session.session_id, events[4].event_id))
    assert [e.event_id for e in resumed] == [e.event_id for e in events[5:]]


async def test_others_see_nothing_of_a_session(
    stores: Stores, watch: WatchUserEvents, redis: Redis, key_prefix: str
) -> None:
    start = await RedisUserEvents(redis, key_prefix).position()
    session, _ = await _run_to_exit(stores, exit_code=0)
    other = Caller(user_id=new_id(), access_key="AKother", domain_name=session.domain_name)
    foreign_admin = Caller(user_id=new_id(), role=Role.ADMIN, domain_name="elsewhere")
    for caller in (other, foreign_admin):
        with pytest.raises(SessionNotFound):
            await _collect(watch.session(caller, session.session_id, ""))

    # The other user's own session comes next: their watch from before shows it first, having
    # skipped every event of the first session.
    theirs, _ = await stores.sessions.add(new_session(owner_user_id=other.user_id))
    await stores.relay.drain()
    [first] = await _collect(watch.all(other, EventFilter(), start), n=1)
    assert (first.session_id, first.name) == (theirs.session_id, "session_enqueued")

    admin = Caller(user_id=new_id(), role=Role.ADMIN, domain_name=session.domain_name)
    seen = await _collect(
        watch.all(
            admin, EventFilter(session_id=session.session_id, kinds=frozenset({"kernel"})), start
        ),
        n=3,
    )
    assert [e.name for e in seen] == ["kernel_creating", "kernel_started", "kernel_terminated"]


async def test_a_rename_is_announced_and_a_clash_changes_nothing(
    stores: Stores, watch: WatchUserEvents, redis: Redis, key_prefix: str
) -> None:
    names = SqlSessionNames(stores.factory)
    first, _ = await stores.sessions.add(new_session())
    second, _ = await stores.sessions.add(new_session(access_key=first.access_key))
    await stores.relay.drain()
    start = await RedisUserEvents(redis, key_prefix).position()
    assert await names.rename(first.session_id, "renamed")
    with pytest.raises(SessionNameInUse):
        await names.rename(second.session_id, "renamed")
    assert (await stores.sessions.get(second.session_id)).name == second.name
    await stores.relay.drain()
    owner = Caller(user_id=first.owner_user_id, access_key=first.access_key)
    flt = EventFilter(session_id=first.session_id)
    [renamed] = await _collect(watch.all(owner, flt, start, follow=False))
    assert renamed.name == "session_renamed"
    assert _decoded(renamed).event.session_name == "renamed"
    await stores.lifecycle.begin_destroy(first.session_id, forced=False, reason="user-requested")
    assert not await names.rename(first.session_id, "again")


async def test_a_failed_start_tells_its_owner_why_the_session_was_cancelled(
    stores: Stores, watch: WatchUserEvents
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session())
    await stores.sessions.bind(session.session_id, {session.kernels[0].kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)
    error = "ImageNotFound: no such image"
    await stores.lifecycle.cancel(session.session_id, reason="failed-to-start", error=error)
    await stores.relay.drain()
    owner = Caller(user_id=session.owner_user_id, access_key=session.access_key)

    events = await _collect(watch.session(owner, session.session_id, ""))
    assert [e.name for e in events][-2:] == ["session_preparing", "session_cancelled"]
    cancelled = _decoded(events[-1]).event
    assert (cancelled.reason, cancelled.message) == ("failed-to-start", error)
    assert (cancelled.session_name, cancelled.owner_user_id) == (
        session.name,
        session.owner_user_id,
    )
    assert _decoded(events[-2]).event.project_id == session.project_id
