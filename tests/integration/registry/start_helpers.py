"""Shared pieces of the starter tests: a scriptable agent client and a wired starter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from typing_extensions import override

from libs.core.ids import new_id
from services.registry.adapters.agent_health_store import SqlAgentHealth
from services.registry.adapters.requeue_store import SqlStartRetries
from services.registry.domain.schedulability import SchedulabilityPolicy
from services.registry.domain.start_failures import RetryPolicy
from services.registry.service.ports import KernelLaunch, PreparingSession
from services.registry.service.session_ports import SessionStarts
from services.registry.service.start_outcomes import StartOutcomes
from services.registry.service.starter import Starter
from tests.integration.registry.agent_doubles import UnusedAgents
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration


class FakeAgents(UnusedAgents):
    """Records calls; `fail(address)` returns the error to raise for that agent, if any."""

    def __init__(self, fail: Callable[[str], Exception | None] = lambda _: None) -> None:
        self.fail = fail
        self.created: list[str] = []
        self.destroyed: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None  # when set, creates wait for it
        self.in_flight = 0
        self.most_in_flight = 0

    @override
    async def create_kernels(self, address: str, kernels: Sequence[KernelLaunch]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            error = self.fail(address)
            if error is not None:
                raise error
            self.created += [k.kernel_id for k in kernels]
        finally:
            self.in_flight -= 1

    @override
    async def destroy_kernel(
        self, address: str, kernel_id: str, session_id: str, reason: str
    ) -> None:
        self.destroyed.append((kernel_id, reason))


def outcomes_for(
    stores: Stores,
    agents: FakeAgents,
    *,
    sessions: SessionStarts | None = None,
    max_attempts: int = 5,
    failure_threshold: int = 3,
    cooldown: timedelta = timedelta(seconds=30),
) -> StartOutcomes:
    return StartOutcomes(
        sessions or stores.lifecycle,
        SqlStartRetries(stores.factory),
        SqlAgentHealth(stores.factory),
        agents,
        RetryPolicy(max_attempts=max_attempts, backoff=timedelta(seconds=2)),
        SchedulabilityPolicy(failure_threshold=failure_threshold, cooldown=cooldown),
    )


def starter_for(
    stores: Stores,
    agents: FakeAgents,
    *,
    sessions: SessionStarts | None = None,
    max_attempts: int = 5,
    failure_threshold: int = 3,
    cooldown: timedelta = timedelta(seconds=30),
    concurrency: int = 32,
    start_timeout: float = 50.0,
) -> Starter:
    outcomes = outcomes_for(
        stores,
        agents,
        sessions=sessions,
        max_attempts=max_attempts,
        failure_threshold=failure_threshold,
        cooldown=cooldown,
    )
    return Starter(
        sessions or stores.lifecycle,
        agents,
        asyncio.Event(),
        outcomes,
        concurrency=concurrency,
        start_timeout=start_timeout,
        poll_interval=0.05,
    )


async def new_agent(stores: Stores, *, cpu: str = "2", address: str = "") -> str:
    agent_id = f"agent-{new_id()[:8]}"
    reg = replace(registration(agent_id, cpu=cpu), address=address or f"{agent_id}:1")
    await stores.agents.register(reg, datetime.now(UTC))
    return agent_id


async def scheduled_on(stores: Stores, agent_id: str, *, cpu: str = "1") -> tuple[str, str]:
    session, _ = await stores.sessions.add(new_session(cpu=cpu))
    kernel_id = session.kernels[0].kernel_id
    assert (await stores.sessions.bind(session.session_id, {kernel_id: agent_id})).bound
    return session.session_id, kernel_id


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for a condition the code under test makes true from another task."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def claim(stores: Stores, session_id: str) -> PreparingSession:
    """Claim the SCHEDULED sessions as a starter does and return `session_id`'s (the shared
    test database may hold other tests' sessions too)."""
    claimed = await stores.lifecycle.claim_scheduled(100)
    mine = [prep for prep in claimed if prep.session.session_id == session_id]
    assert len(mine) == 1, [prep.session.session_id for prep in claimed]
    return mine[0]
