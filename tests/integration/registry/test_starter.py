"""The starter against the real database: a failed agent call cancels and frees the slots."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from libs.core.ids import new_id
from services.registry.adapters.redis_events import RedisHeartbeatClock
from services.registry.domain.errors import AgentUnavailable
from services.registry.domain.model import ExecMode, ExecOutcome, Status
from services.registry.service.agents import AgentLifecycle
from services.registry.service.ports import KernelLaunch
from services.registry.service.starter import Starter
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


class FakeAgents:
    def __init__(self, *, fail: bool) -> None:
        self.fail = fail
        self.created: list[str] = []
        self.destroyed: list[tuple[str, str]] = []

    async def create_kernels(self, address: str, kernels: Sequence[KernelLaunch]) -> None:
        if self.fail:
            raise AgentUnavailable("agent call failed: UNAVAILABLE: connection refused")
        self.created += [k.kernel_id for k in kernels]

    async def destroy_kernel(
        self, address: str, kernel_id: str, session_id: str, reason: str
    ) -> None:
        self.destroyed.append((kernel_id, reason))

    async def execute(
        self, address: str, kernel_id: str, mode: ExecMode, code: str, timeout: float
    ) -> ExecOutcome:
        raise NotImplementedError

    async def kernel_logs(self, address: str, kernel_id: str, tail: int) -> str:
        raise NotImplementedError


async def _scheduled(stores: Stores) -> tuple[str, str, str]:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="2"), datetime.now(UTC))
    session, _ = await stores.sessions.add(new_session(cpu="2"))
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    return agent_id, session.session_id, kernel_id


async def test_failed_create_cancels_with_the_agent_error_and_frees_slots(stores: Stores) -> None:
    agent_id, session_id, kernel_id = await _scheduled(stores)
    agents = FakeAgents(fail=True)
    starter = Starter(stores.lifecycle, agents, asyncio.Event())
    for prep in await stores.lifecycle.claim_scheduled(100):
        await starter.start(prep)
    session = await stores.sessions.get(session_id)
    assert session.status is Status.CANCELLED
    assert session.status_info == "failed-to-start"
    assert "connection refused" in session.status_message
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0
    assert (kernel_id, "failed-to-start") in agents.destroyed


async def test_successful_create_leaves_the_session_preparing_for_agent_events(
    stores: Stores,
) -> None:
    agent_id, session_id, kernel_id = await _scheduled(stores)
    agents = FakeAgents(fail=False)
    starter = Starter(stores.lifecycle, agents, asyncio.Event())
    for prep in await stores.lifecycle.claim_scheduled(100):
        await starter.start(prep)
    assert kernel_id in agents.created
    # RUNNING comes only from the agent's "started" event (rule R-AGENT-EVENTS).
    assert (await stores.sessions.get(session_id)).status is Status.PREPARING
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 2


async def test_a_session_left_preparing_is_cancelled_by_the_sweeper(
    stores: Stores, redis, key_prefix: str
) -> None:
    agent_id, session_id, kernel_id = await _scheduled(stores)
    await stores.lifecycle.claim_scheduled(100)  # the starter that claimed it then died
    agents = FakeAgents(fail=False)
    sweeper = AgentLifecycle(
        stores.agents,
        stores.lifecycle,
        RedisHeartbeatClock(redis, key_prefix),
        agents,
        prepare_timeout=timedelta(0),
    )
    await sweeper.sweep()
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.CANCELLED, "preparing-timeout")
    assert (kernel_id, "preparing-timeout") in agents.destroyed
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0
