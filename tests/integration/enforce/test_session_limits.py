"""Lifetime and containers-per-session limits against the real registry store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from libs.core.ids import new_id
from libs.core.slots import ResourceSlots
from services.registry.domain.model import MAX_LIFETIME_EXCEEDED, Status
from services.registry.service.idle_checks import IdleChecks, LifetimeChecker
from services.registry.service.ports import NewKernel
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration
from tests.integration.registry.test_starter import FakeAgents

pytestmark = pytest.mark.integration


async def _running(stores: Stores, *, lifetime: int) -> tuple[str, str, str]:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="4"), datetime.now(UTC))
    session, _ = await stores.sessions.add(replace(new_session(), max_lifetime_seconds=lifetime))
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    await stores.lifecycle.claim_scheduled(100)
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    return session.session_id, kernel_id, agent_id


def _checks(stores: Stores, agents: FakeAgents) -> IdleChecks:
    return IdleChecks(stores.lifecycle, agents, [LifetimeChecker()])


async def test_a_session_past_its_max_lifetime_is_ended_by_the_lifetime_checker(
    stores: Stores,
) -> None:
    session_id, kernel_id, agent_id = await _running(stores, lifetime=60)
    session = await stores.sessions.get(session_id)
    assert session.expires_at is not None
    agents = FakeAgents(fail=False)
    checks = _checks(stores, agents)

    await checks.check(now=session.expires_at - timedelta(seconds=1))
    assert (await stores.sessions.get(session_id)).status is Status.RUNNING

    await checks.check(now=session.expires_at + timedelta(seconds=1))
    ended = await stores.sessions.get(session_id)
    assert (ended.status, ended.status_info) == (Status.TERMINATING, MAX_LIFETIME_EXCEEDED)
    assert (kernel_id, MAX_LIFETIME_EXCEEDED) in agents.destroyed
    # The agent reports the kernel gone: the session ends with the same reason.
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.TERMINATED, agent_id=agent_id, reason=MAX_LIFETIME_EXCEEDED
    )
    assert (await stores.sessions.get(session_id)).status_info == MAX_LIFETIME_EXCEEDED


async def test_a_session_without_a_lifetime_limit_never_expires(stores: Stores) -> None:
    session_id, _, _ = await _running(stores, lifetime=0)
    assert (await stores.sessions.get(session_id)).expires_at is None
    await _checks(stores, FakeAgents(fail=False)).check(now=datetime.now(UTC) + timedelta(days=365))
    assert (await stores.sessions.get(session_id)).status is Status.RUNNING


async def test_a_cluster_session_stores_one_kernel_per_container(stores: Stores) -> None:
    base = new_session()
    slots = ResourceSlots({"cpu": "1", "mem": "1000"})
    kernels = (
        NewKernel(kernel_id=new_id(), cluster_role="main", requested_slots=slots),
        NewKernel(kernel_id=new_id(), cluster_role="sub", requested_slots=slots),
    )
    session, _ = await stores.sessions.add(replace(base, kernels=kernels))
    assert [k.cluster_role for k in session.kernels] == ["main", "sub"]
    assert session.requested_slots["cpu"] == 2
