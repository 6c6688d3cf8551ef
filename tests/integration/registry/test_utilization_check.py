"""The utilization checker and kernel stats against the real registry store and Redis."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from libs.core.ids import new_id
from services.registry.adapters.kernel_stats_store import RedisKernelStats
from services.registry.adapters.resource_group_store import SqlResourceGroupStore
from services.registry.domain.group_scheduling import GroupScheduling
from services.registry.domain.idle import IdleGrace
from services.registry.domain.model import Session, Status
from services.registry.domain.utilization import UTILIZATION, KernelStats, UtilizationPolicy
from services.registry.service.idle_checks import IdleChecks
from services.registry.service.kernel_events import ApplyKernelEvent
from services.registry.service.resource_groups import ResourceGroups
from services.registry.service.session_ports import KernelReport
from services.registry.service.utilization_check import UtilizationChecker
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration
from tests.integration.registry.start_helpers import FakeAgents

pytestmark = pytest.mark.integration

POLICY = UtilizationPolicy(window=timedelta(seconds=60), thresholds={"cpu": 10.0})


async def _running(stores: Stores, group: str) -> tuple[Session, str]:
    agent_id = f"agent-{new_id()[:8]}"
    joined = replace(registration(agent_id, cpu="4"), resource_group=group)
    await stores.agents.register(joined, datetime.now(UTC))
    session, _ = await stores.sessions.add(replace(new_session(cpu="1"), resource_group=group))
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    await stores.lifecycle.claim_scheduled(100)
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    return await stores.sessions.get(session.session_id), agent_id


def _reports(session: Session, agent_id: str, now: datetime, cores: float) -> list[KernelStats]:
    """A report every 5 s over the last 90 s, using `cores` cores all along."""
    kernel_id = session.kernels[0].kernel_id
    return [
        KernelStats(
            kernel_id=kernel_id,
            agent_id=agent_id,
            received_at=now - timedelta(seconds=t),
            cpu_seconds=cores * (90 - t),
            mem_bytes=100,
        )
        for t in range(90, -1, -5)
    ]


async def _group(stores: Stores, policy: UtilizationPolicy | None) -> str:
    name = f"util-{secrets.token_hex(4)}"
    groups = ResourceGroups(SqlResourceGroupStore(stores.factory))
    await groups.create(name, "", True, GroupScheduling(idle_utilization=policy))
    return name


async def test_an_under_used_session_ends_and_a_busy_one_does_not(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    group = await _group(stores, POLICY)
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    idle, idle_agent = await _running(stores, group)
    busy, busy_agent = await _running(stores, group)
    forged, _ = await _running(stores, group)
    now = datetime.now(UTC) + timedelta(minutes=2)
    await stats.record(_reports(idle, idle_agent, now, cores=0.02))
    await stats.record(_reports(busy, busy_agent, now, cores=0.9))
    # Reports about a kernel from an agent it does not run on count for nothing.
    await stats.record(_reports(forged, "agent-elsewhere", now, cores=0.0))
    agents = FakeAgents()
    checker = UtilizationChecker(stats, SqlResourceGroupStore(stores.factory), IdleGrace())
    checks = IdleChecks(stores.lifecycle, agents, [checker])

    ended = await checks.check(now=now)

    assert ended.get(idle.session_id) == UTILIZATION
    assert busy.session_id not in ended and forged.session_id not in ended
    got = await stores.sessions.get(idle.session_id)
    assert (got.status, got.status_info) == (Status.TERMINATING, UTILIZATION)
    assert (await stores.sessions.get(busy.session_id)).status is Status.RUNNING


async def test_the_initial_grace_and_groups_without_a_policy_leave_sessions_alone(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    graced = await _group(stores, replace(POLICY, initial_grace=timedelta(hours=1)))
    unwatched = await _group(stores, None)
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    now = datetime.now(UTC) + timedelta(minutes=2)
    sessions = [await _running(stores, g) for g in (graced, unwatched)]
    for session, agent_id in sessions:
        await stats.record(_reports(session, agent_id, now, cores=0.0))
    checker = UtilizationChecker(stats, SqlResourceGroupStore(stores.factory), IdleGrace())
    assert await checker.due([s for s, _ in sessions], now) == set()
    # An idle round does not even read the sessions of a group without a policy.
    judged = (await checker.judged()).groups
    assert graced in judged and unwatched not in judged


async def test_a_groups_policy_is_set_shown_and_removed(stores: Stores) -> None:
    groups = ResourceGroups(SqlResourceGroupStore(stores.factory))
    name = await _group(stores, POLICY)
    assert (await groups.store.get(name)).scheduling.idle_utilization == POLICY
    changed = await groups.update(
        name, {"idle_utilization": None}, GroupScheduling(idle_utilization=None)
    )
    assert changed.scheduling.idle_utilization is None


async def test_an_ended_kernel_keeps_its_agents_last_report(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    group = await _group(stores, None)
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    session, agent_id = await _running(stores, group)
    kernel_id = session.kernels[0].kernel_id
    now = datetime.now(UTC)
    await stats.record(_reports(session, agent_id, now, cores=0.5))
    apply = ApplyKernelEvent(stores.lifecycle, stats)

    await apply(
        KernelReport(
            event_id=new_id(),
            kernel_id=kernel_id,
            agent_id=agent_id,
            status=Status.TERMINATED,
            reason="self-terminated",
            exit_code=0,
            message="",
        )
    )

    kernel = (await stores.sessions.get(session.session_id)).kernels[0]
    assert kernel.status is Status.TERMINATED
    assert kernel.stats is not None and kernel.stats.cpu_seconds == 45.0
