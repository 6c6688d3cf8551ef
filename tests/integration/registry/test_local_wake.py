"""A kernel event applied on this replica wakes the CreateSession calls waiting here at once,
without the outbox relay or the cluster stream; the stream still carries the change for others."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from libs.core.ids import new_id
from services.registry.adapters.redis_events import StreamSessionWaiter
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent
from services.registry.service.session_ports import KernelReport
from tests.integration.registry.conftest import Stores
from tests.integration.registry.start_helpers import new_agent, scheduled_on

pytestmark = pytest.mark.integration


def _report(kernel_id: str, agent_id: str, status: Status) -> KernelReport:
    return KernelReport(
        event_id=new_id(),
        kernel_id=kernel_id,
        agent_id=agent_id,
        status=status,
        reason="",
        exit_code=None,
        message="",
    )


async def test_a_started_kernel_wakes_the_waiter_without_the_stream(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    session_id, kernel_id = await scheduled_on(stores, agent_id)
    await stores.lifecycle.claim_scheduled(100)
    waiter = StreamSessionWaiter(stores.events)  # its stream loop is not even running
    flag = waiter.subscribe(session_id)
    other = waiter.subscribe(new_id())
    apply = ApplyKernelEvent(stores.lifecycle, on_session_change=waiter.wake)
    await apply(_report(kernel_id, agent_id, Status.RUNNING))
    assert flag.is_set()
    assert not other.is_set()
    assert (await stores.sessions.get(session_id)).status is Status.RUNNING
    # The change is still in the outbox for every other replica's waiters.
    assert await stores.relay.drain() >= 1


async def test_a_repeated_or_foreign_event_wakes_nobody(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    stranger = await new_agent(stores)
    session_id, kernel_id = await scheduled_on(stores, agent_id)
    await stores.lifecycle.claim_scheduled(100)
    woken: list[str] = []
    apply = ApplyKernelEvent(stores.lifecycle, on_session_change=lambda s, _: woken.append(s))
    await apply(_report(kernel_id, stranger, Status.RUNNING))  # refused (rule R-EVENT-SOURCE)
    assert woken == []
    started = _report(kernel_id, agent_id, Status.RUNNING)
    await apply(started)
    await apply(started)  # a redelivery: a no-op
    assert woken == [session_id]


async def test_only_a_status_that_ends_the_wait_wakes_the_waiter(stores: Stores) -> None:
    waiter = StreamSessionWaiter(stores.events)
    session_id = new_id()
    flag = waiter.subscribe(session_id)
    for on_the_way in (Status.SCHEDULED, Status.PREPARING, Status.PULLING):
        waiter.wake(session_id, on_the_way)
    assert not flag.is_set()  # a waiting CreateSession does not re-read its session for these
    waiter.wake(session_id, Status.RUNNING)
    assert flag.is_set()
    ended = waiter.subscribe(session_id)
    waiter.wake(session_id, Status.CANCELLED)
    assert ended.is_set()


async def test_a_bind_on_another_replica_wakes_a_starter_that_follows_binds(
    stores: Stores,
) -> None:
    await stores.relay.drain()  # what earlier tests left: published before the follower starts
    wakeup = asyncio.Event()
    waiter = StreamSessionWaiter(stores.events, wakeup.set)
    follower = asyncio.create_task(waiter.run())
    try:
        await asyncio.sleep(0.2)  # the follower has taken its position in the stream
        agent_id = await new_agent(stores)
        await stores.relay.drain()
        await asyncio.sleep(0.2)
        assert not wakeup.is_set()  # an agent's registration is no work for a starter
        await scheduled_on(stores, agent_id)  # bound here, as by another replica
        await stores.relay.drain()
        async with asyncio.timeout(10):
            await wakeup.wait()
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
