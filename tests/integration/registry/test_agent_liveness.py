"""Heartbeat sweep, health reports and drain against real PostgreSQL and Redis
(rules R-SWEEP, R-AGENT-OUT)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from libs.core.ids import new_id
from services.registry.adapters.agent_health_store import SqlAgentHealth, count_failed_starts
from services.registry.adapters.agent_store import SqlAgentStore
from services.registry.adapters.heartbeat_clock import RedisHeartbeatClock
from services.registry.adapters.tables import AgentRow
from services.registry.api import convert
from services.registry.domain.model import AgentStatus, Status
from services.registry.domain.schedulability import SchedulabilityPolicy
from services.registry.service.agents import AgentLifecycle
from services.registry.service.ports import SessionChange
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration
from tests.integration.registry.start_helpers import FakeAgents, new_agent

pytestmark = pytest.mark.integration

TIMEOUT = timedelta(seconds=40)


class FlakyAgentStore(SqlAgentStore):
    """mark_lost fails `failures` times, as it does while PostgreSQL is down."""

    failures = 1

    async def mark_lost(self, agent_ids: Sequence[str]) -> list[SessionChange]:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database is down")
        return await super().mark_lost(agent_ids)


def lifecycle(
    stores: Stores,
    clock: RedisHeartbeatClock,
    *,
    agent_store: SqlAgentStore | None = None,
    cooldown: timedelta = timedelta(seconds=30),
) -> AgentLifecycle:
    return AgentLifecycle(
        agent_store or stores.agents,
        stores.lifecycle,
        clock,
        FakeAgents(),
        TIMEOUT,
        health=SqlAgentHealth(stores.factory),
        schedulability=SchedulabilityPolicy(failure_threshold=3, cooldown=cooldown),
    )


@pytest.fixture
def clock(redis: Redis, key_prefix: str) -> RedisHeartbeatClock:
    return RedisHeartbeatClock(redis, key_prefix)


async def test_a_failed_mark_lost_is_retried_by_the_next_sweep(
    stores: Stores, clock: RedisHeartbeatClock
) -> None:
    agent_id = await new_agent(stores)
    await clock.beat(agent_id, datetime.now(UTC))
    flaky = FlakyAgentStore(stores.factory)
    sweeper = lifecycle(stores, clock, agent_store=flaky)
    later = datetime.now(UTC) + TIMEOUT + timedelta(seconds=1)
    with pytest.raises(ConnectionError):
        await sweeper.sweep(later)
    assert (await stores.agents.get(agent_id)).status is AgentStatus.ALIVE
    await sweeper.sweep(later)  # the entry is still there: the loss is not forgotten
    assert (await stores.agents.get(agent_id)).status is AgentStatus.LOST


async def test_a_heartbeat_after_the_sweep_read_is_not_erased(
    stores: Stores, clock: RedisHeartbeatClock, redis: Redis, key_prefix: str
) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    old = datetime.now(UTC) - TIMEOUT * 2
    await clock.beat(agent_id, old)
    seen = [b for b in await clock.stale(datetime.now(UTC) - TIMEOUT) if b.agent_id == agent_id]
    assert seen
    await clock.beat(agent_id, datetime.now(UTC))  # lands between the read and the removal
    assert await clock.forget(seen) == 0
    assert await redis.hexists(f"{key_prefix}agent-heartbeats", agent_id)


async def test_after_redis_lost_its_data_agents_get_a_grace_period(
    stores: Stores, clock: RedisHeartbeatClock, redis: Redis, key_prefix: str
) -> None:
    agent_id = await new_agent(stores)
    await redis.delete(f"{key_prefix}agent-heartbeats")  # a Redis restart without persistence
    sweeper = lifecycle(stores, clock)
    now = datetime.now(UTC)
    await sweeper.sweep(now)
    await sweeper.sweep(now + TIMEOUT - timedelta(seconds=1))
    assert (await stores.agents.get(agent_id)).status is AgentStatus.ALIVE
    # An agent that really is gone is still found, one timeout after the first sight.
    await sweeper.sweep(now + TIMEOUT + timedelta(seconds=1))
    assert (await stores.agents.get(agent_id)).status is AgentStatus.LOST
    # A lost agent gets no new entry: only ALIVE agents are given a first sight.
    await sweeper.sweep(now + TIMEOUT + timedelta(seconds=2))
    assert not await redis.hexists(f"{key_prefix}agent-heartbeats", agent_id)


async def test_an_unhealthy_agent_leaves_scheduling_until_it_is_healthy(
    stores: Stores, clock: RedisHeartbeatClock
) -> None:
    agent_id = await new_agent(stores)
    agents = lifecycle(stores, clock)
    assert await agents.heartbeat(agent_id, None, (False, "cgroup parent /shipyard is missing"))
    agent = await stores.agents.get(agent_id)
    assert agent.unschedulable_reason == "unhealthy: cgroup parent /shipyard is missing"
    assert not convert.agent_state_pb(agent).alive  # the scheduler does not place on it
    listed = convert.agent_pb(agent)
    assert (listed.schedulable, listed.unschedulable_reason) == (False, agent.unschedulable_reason)
    await agents.heartbeat(agent_id, None, (True, ""))
    agent = await stores.agents.get(agent_id)
    assert agent.schedulable and convert.agent_state_pb(agent).alive


async def test_a_drained_agent_receives_no_work_until_it_registers_again(
    stores: Stores, clock: RedisHeartbeatClock
) -> None:
    agent_id = await new_agent(stores)
    agents = lifecycle(stores, clock)
    await agents.drain(agent_id, "shutting-down")
    assert (await stores.agents.get(agent_id)).unschedulable_reason == "draining: shutting-down"
    session, _ = await stores.sessions.add(new_session())
    outcome = await stores.sessions.bind(
        session.session_id, {session.kernels[0].kernel_id: agent_id}
    )
    assert (outcome.bound, outcome.conflict) == (False, "agent-unschedulable")
    await agents.heartbeat(agent_id, None, (True, ""))  # a healthy heartbeat is not enough
    assert not (await stores.agents.get(agent_id)).schedulable
    await agents.register(registration(agent_id))
    assert (await stores.agents.get(agent_id)).schedulable
    assert (await stores.sessions.get(session.session_id)).status is Status.PENDING


async def test_failing_starts_keep_the_agent_out_for_the_cooldown(
    stores: Stores, clock: RedisHeartbeatClock
) -> None:
    agent_id = await new_agent(stores)
    health = SqlAgentHealth(stores.factory)
    async with stores.factory.begin() as db:
        row = await db.get(AgentRow, agent_id, with_for_update=True)
        assert row is not None
        for _ in range(3):
            count_failed_starts([row], SchedulabilityPolicy(failure_threshold=3), datetime.now(UTC))
    policy = SchedulabilityPolicy(failure_threshold=3, cooldown=timedelta(seconds=30))
    soon = datetime.now(UTC) + timedelta(seconds=5)
    assert (
        await health.report_health(agent_id, healthy=True, reason="", now=soon, policy=policy)
        is None
    )
    assert not (await stores.agents.get(agent_id)).schedulable
    later = datetime.now(UTC) + timedelta(seconds=31)
    back = await health.report_health(agent_id, healthy=True, reason="", now=later, policy=policy)
    assert back is not None and back.schedulable


async def test_a_successful_start_resets_its_agents_failed_starts_only(stores: Stores) -> None:
    started, other = await new_agent(stores), await new_agent(stores)
    async with stores.factory.begin() as db:
        rows = [await db.get(AgentRow, a, with_for_update=True) for a in (started, other)]
        assert all(r is not None for r in rows)
        count_failed_starts(
            [r for r in rows if r is not None], SchedulabilityPolicy(), datetime.now(UTC)
        )
    await SqlAgentHealth(stores.factory).starts_succeeded([started, started])
    async with stores.factory() as db:
        counts = {a: (await db.get(AgentRow, a, populate_existing=True)) for a in (started, other)}
    assert {a: r.start_failures for a, r in counts.items() if r is not None} == {
        started: 0,
        other: 1,
    }
