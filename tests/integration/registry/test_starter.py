"""The starter against the real database: bounded, isolated starts; failures that are the
session's own end it, others send it back to the queue (rules R-FAILED-START, R-REQUEUE)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from libs.core.errors import Internal, InvalidArgument
from libs.core.ids import new_id
from services.registry.adapters.requeue_store import SqlStartRetries
from services.registry.domain.errors import AgentUnavailable
from services.registry.domain.model import Status
from services.registry.service.kernel_events import ApplyKernelEvent
from services.registry.service.session_ports import KernelReport
from services.registry.service.start_outcomes import RequeueRelease
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session
from tests.integration.registry.start_helpers import (
    FakeAgents,
    claim,
    new_agent,
    scheduled_on,
    starter_for,
    until,
)

pytestmark = pytest.mark.integration

REFUSED = AgentUnavailable("agent call failed: UNAVAILABLE: connection refused")


async def _start_all(stores: Stores, agents: FakeAgents, **kw: object) -> None:
    starter = starter_for(stores, agents, **kw)  # type: ignore[arg-type]
    for prep in await stores.lifecycle.claim_scheduled(100):
        await starter.start(prep)


async def test_a_session_fault_cancels_with_the_agent_error_and_frees_slots(
    stores: Stores,
) -> None:
    agent_id = await new_agent(stores)
    session_id, kernel_id = await scheduled_on(stores, agent_id, cpu="2")
    agents = FakeAgents(lambda _: InvalidArgument("image 'nope' has no entrypoint"))
    await _start_all(stores, agents)
    session = await stores.sessions.get(session_id)
    assert session.status is Status.CANCELLED
    assert session.status_info == "failed-to-start"
    assert "no entrypoint" in session.status_message
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0
    assert (kernel_id, "failed-to-start") in agents.destroyed


async def test_an_unreachable_agent_sends_the_session_back_to_the_queue(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    session_id, kernel_id = await scheduled_on(stores, agent_id, cpu="2")
    await _start_all(stores, FakeAgents(lambda _: REFUSED))
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.PENDING, "start-failed-requeued")
    assert "START_ATTEMPT_1_FAILED" in session.status_history
    # Slots released in the same transaction; the kernel is unplaced, under a new id.
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0
    (kernel,) = session.kernels
    assert kernel.agent_id is None and kernel.kernel_id != kernel_id
    # Not offered to the scheduler before its backoff ends, then offered again.
    assert session_id not in {s.session_id for s in await stores.sessions.list_pending()}
    retries = SqlStartRetries(stores.factory)
    assert session_id not in await retries.release_due(datetime.now(UTC), 1000)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert session_id in await retries.release_due(later, 1000)
    assert session_id in {s.session_id for s in await stores.sessions.list_pending()}


async def test_the_requeued_session_runs_on_another_agent(stores: Stores) -> None:
    broken = await new_agent(stores)
    healthy = await new_agent(stores)
    session_id, _ = await scheduled_on(stores, broken)
    agents = FakeAgents(lambda address: REFUSED if address.startswith(broken) else None)
    await _start_all(stores, agents)
    release = RequeueRelease(SqlStartRetries(stores.factory))
    await release.retries.release_due(datetime.now(UTC) + timedelta(seconds=5), 1000)
    session = await stores.sessions.get(session_id)
    (kernel,) = session.kernels
    assert (await stores.sessions.bind(session_id, {kernel.kernel_id: healthy})).bound
    await _start_all(stores, agents)
    assert kernel.kernel_id in agents.created
    assert (await stores.sessions.get(session_id)).status is Status.PREPARING


async def test_attempts_are_bounded_then_the_session_is_cancelled(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    session_id, _ = await scheduled_on(stores, agent_id)
    agents = FakeAgents(lambda _: REFUSED)
    retries = SqlStartRetries(stores.factory)
    for _ in range(2):
        await _start_all(stores, agents, max_attempts=2, failure_threshold=0)
        session = await stores.sessions.get(session_id)
        if session.status is Status.PENDING:
            await retries.release_due(datetime.now(UTC) + timedelta(minutes=5), 1000)
            (kernel,) = session.kernels
            assert (await stores.sessions.bind(session_id, {kernel.kernel_id: agent_id})).bound
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.CANCELLED, "start-attempts-exhausted")
    assert {"START_ATTEMPT_1_FAILED", "START_ATTEMPT_2_FAILED"} <= set(session.status_history)
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0


async def test_an_agent_whose_starts_keep_failing_leaves_scheduling(stores: Stores) -> None:
    agent_id = await new_agent(stores, cpu="8")
    for _ in range(3):
        await scheduled_on(stores, agent_id)
    await _start_all(stores, FakeAgents(lambda _: REFUSED), failure_threshold=3)
    agent = await stores.agents.get(agent_id)
    assert not agent.schedulable and not agent.takes_work
    assert agent.unschedulable_reason == "start-failures: 3 consecutive failed starts"
    # No new work lands on it, even from a scheduler that has not heard yet.
    session_id, kernel_id = await _pending(stores)
    outcome = await stores.sessions.bind(session_id, {kernel_id: agent_id})
    assert (outcome.bound, outcome.conflict) == (False, "agent-unschedulable")


async def test_one_start_that_blows_up_does_not_stop_the_others(stores: Stores) -> None:
    broken = await new_agent(stores)
    healthy = await new_agent(stores, cpu="8")
    await scheduled_on(stores, broken)
    good = [await scheduled_on(stores, healthy) for _ in range(3)]

    class Exploding(type(stores.lifecycle)):  # type: ignore[misc]
        async def cancel(self, session_id: str, *, reason: str, error: str) -> None:
            raise RuntimeError("database went away")

    # The broken agent's start fails, and recording that failure raises too.
    agents = FakeAgents(lambda a: InvalidArgument("bad") if a.startswith(broken) else None)
    starter = starter_for(stores, agents, sessions=Exploding(stores.factory), concurrency=1)
    loop = asyncio.create_task(starter.run())
    try:
        await until(lambda: len(agents.created) >= 3)
        assert not loop.done()  # the loop survived the failure
    finally:
        await starter.drain(5.0)
        loop.cancel()
    assert {k for _, k in good} <= set(agents.created)


async def test_starts_in_flight_are_bounded(stores: Stores) -> None:
    agent_id = await new_agent(stores, cpu="8")
    ids = [await scheduled_on(stores, agent_id) for _ in range(4)]
    agents = FakeAgents()
    agents.gate = asyncio.Event()
    starter = starter_for(stores, agents, concurrency=2)
    loop = asyncio.create_task(starter.run())
    await until(lambda: agents.in_flight >= 2)
    # Only as many sessions as can start are claimed: the rest stay SCHEDULED, with no
    # deadline running while they wait.
    statuses = [(await stores.sessions.get(s)).status for s, _ in ids]
    assert statuses.count(Status.PREPARING) == 2
    assert statuses.count(Status.SCHEDULED) == 2
    agents.gate.set()
    await until(lambda: len(agents.created) >= 4)
    await starter.drain(5.0)
    loop.cancel()
    assert agents.most_in_flight == 2


async def test_a_start_cut_short_by_shutdown_goes_back_to_the_queue(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    session_id, _ = await scheduled_on(stores, agent_id)
    agents = FakeAgents()
    agents.gate = asyncio.Event()  # the agent never answers
    starter = starter_for(stores, agents)
    loop = asyncio.create_task(starter.run())
    await until(lambda: agents.in_flight >= 1)
    await starter.drain(0.2)
    loop.cancel()
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.PENDING, "start-failed-requeued")
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0


async def test_successful_create_leaves_the_session_preparing_for_agent_events(
    stores: Stores,
) -> None:
    agent_id = await new_agent(stores)
    session_id, kernel_id = await scheduled_on(stores, agent_id, cpu="2")
    agents = FakeAgents()
    await _start_all(stores, agents)
    assert kernel_id in agents.created
    # RUNNING comes only from the agent's "started" event (rule R-AGENT-EVENTS).
    assert (await stores.sessions.get(session_id)).status is Status.PREPARING
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 2


async def _pending(stores: Stores) -> tuple[str, str]:
    session, _ = await stores.sessions.add(new_session())
    return session.session_id, session.kernels[0].kernel_id


async def test_the_agents_create_failed_event_does_not_preempt_the_requeue(
    stores: Stores,
) -> None:
    agent_id = await new_agent(stores)
    session_id, kernel_id = await scheduled_on(stores, agent_id)
    prep = await claim(stores, session_id)
    # The agent announces the failure on the stream before its RPC error reaches the starter.
    await ApplyKernelEvent(stores.lifecycle)(
        KernelReport(
            event_id=new_id(),
            kernel_id=kernel_id,
            agent_id=agent_id,
            status=Status.CANCELLED,  # what a create-failed event means
            reason="failed-to-start",
            exit_code=None,
            message="No such file or directory: '/sys/fs/cgroup/cpu/shipyard/k'",
        )
    )
    assert (await stores.sessions.get(session_id)).status is Status.PREPARING
    broken = Internal(
        "could not create kernel(s)",
        reason="KERNEL_CREATE_FAILED",
        metadata={"cause": "FileNotFoundError"},
    )
    await starter_for(stores, FakeAgents(lambda _: broken)).start(prep)
    assert (await stores.sessions.get(session_id)).status is Status.PENDING
