"""Sessions on a lost agent wait out a grace period (rule R-LOST-GRACE)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from services.registry.adapters.heartbeat_clock import RedisHeartbeatClock
from services.registry.adapters.lost_agent_store import SqlLostAgentSessions
from services.registry.domain.model import AgentStatus, Status
from services.registry.service.agents import AgentLifecycle
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration
from tests.integration.registry.start_helpers import FakeAgents, new_agent

pytestmark = pytest.mark.integration

TIMEOUT = timedelta(seconds=40)
GRACE = timedelta(seconds=60)


def sweeper(stores: Stores, redis: Redis, key_prefix: str) -> AgentLifecycle:
    return AgentLifecycle(
        stores.agents,
        stores.lifecycle,
        RedisHeartbeatClock(redis, key_prefix),
        FakeAgents(),
        TIMEOUT,
        lost_grace=GRACE,
        lost_sessions=SqlLostAgentSessions(stores.factory),
    )


async def running_on(stores: Stores, agent_id: str, *, requeue: bool = False) -> tuple[str, str]:
    session, _ = await stores.sessions.add(replace(new_session(), requeue_on_agent_loss=requeue))
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    await stores.lifecycle.claim_scheduled(100)
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    assert (await stores.sessions.get(session.session_id)).status is Status.RUNNING
    return session.session_id, kernel_id


async def _lose(stores: Stores, sweep: AgentLifecycle, agent_id: str) -> datetime:
    await sweep.clock.beat(agent_id, datetime.now(UTC) - TIMEOUT * 2)
    now = datetime.now(UTC)
    await sweep.sweep(now)
    assert (await stores.agents.get(agent_id)).status is AgentStatus.LOST
    return now


async def test_an_agent_back_within_the_grace_keeps_its_sessions(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    agent_id = await new_agent(stores)
    session_id, kernel_id = await running_on(stores, agent_id)
    sweep = sweeper(stores, redis, key_prefix)
    lost_at = await _lose(stores, sweep, agent_id)
    assert (await stores.sessions.get(session_id)).status is Status.RUNNING
    # It comes back and reports the kernel: re-adopted, nothing to destroy.
    reg = replace(registration(agent_id, live=(kernel_id,)), address=f"{agent_id}:1")
    assert await sweep.register(reg) == []
    later = lost_at + GRACE + timedelta(seconds=1)
    await sweep.clock.beat(agent_id, later)  # it keeps heartbeating
    await sweep.sweep(later)
    session = await stores.sessions.get(session_id)
    assert session.status is Status.RUNNING
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 1


async def test_after_the_grace_the_session_ends_with_agent_lost(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    agent_id = await new_agent(stores)
    session_id, _ = await running_on(stores, agent_id)
    sweep = sweeper(stores, redis, key_prefix)
    lost_at = await _lose(stores, sweep, agent_id)
    await sweep.sweep(lost_at + GRACE - timedelta(seconds=5))
    assert (await stores.sessions.get(session_id)).status is Status.RUNNING
    await sweep.sweep(lost_at + GRACE + timedelta(seconds=1))
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.TERMINATED, "agent-lost")


async def test_a_session_that_asked_is_queued_again(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    agent_id = await new_agent(stores)
    session_id, _ = await running_on(stores, agent_id, requeue=True)
    sweep = sweeper(stores, redis, key_prefix)
    lost_at = await _lose(stores, sweep, agent_id)
    await sweep.sweep(lost_at + GRACE + timedelta(seconds=1))
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.PENDING, "agent-lost")
    assert session.requeue_on_agent_loss
    assert session.kernels[0].agent_id is None
