"""A pre-started kernel's CREATING goes out with its outcome; any other start announces it first."""

from __future__ import annotations

import asyncio

import pytest

from libs.core.errors import Unavailable
from services.agent.domain import model as m
from services.agent.service.create_kernels import CreateKernels
from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import Phase
from tests.unit.agent.agent_fakes import FakePooledBackend, FakePublisher, eventually, spec

K1, K2 = "k-1", "k-2"


def _rig(*, max_starts: int = 0) -> tuple[FakePooledBackend, FakePublisher, CreateKernels]:
    backend, publisher = FakePooledBackend(), FakePublisher()
    return (
        backend,
        publisher,
        CreateKernels(AgentKernels(backend, publisher, "agent-1"), max_starts=max_starts),
    )


async def test_a_hand_out_publishes_creating_and_started_together_after_the_start() -> None:
    backend, publisher, create = _rig()
    backend.prestarted.add(K1)
    backend.create_gate = asyncio.Event()
    call = asyncio.create_task(create([spec(K1, "s-9")]))
    await eventually(lambda: backend.create_calls == [K1])

    assert publisher.events == []  # nothing announced while the kernel is handed out
    backend.create_gate.set()
    await call

    assert publisher.together == [[Phase.CREATING, Phase.STARTED]]
    assert {(e.session_id, e.agent_id) for e in publisher.events} == {("s-9", "agent-1")}
    assert len({e.trace_context.get("traceparent") for e in publisher.events}) == 1


async def test_a_fresh_start_announces_creating_before_it_ends() -> None:
    backend, publisher, create = _rig()
    backend.create_gate = asyncio.Event()
    call = asyncio.create_task(create([spec(K1)]))
    await eventually(lambda: backend.create_calls == [K1])

    assert publisher.phases(K1) == [Phase.CREATING]
    backend.create_gate.set()
    await call

    assert publisher.phases(K1) == [Phase.CREATING, Phase.STARTED]
    assert publisher.together == []


async def test_a_start_waiting_for_its_turn_announces_creating_at_once() -> None:
    backend, publisher, create = _rig(max_starts=1)
    backend.prestarted.update((K1, K2))
    backend.create_gate = asyncio.Event()
    first = asyncio.create_task(create([spec(K1)]))
    await eventually(lambda: backend.create_calls == [K1])
    second = asyncio.create_task(create([spec(K2)]))

    await eventually(lambda: publisher.phases(K2) == [Phase.CREATING])
    backend.create_gate.set()
    await asyncio.gather(first, second)

    assert publisher.together == [[Phase.CREATING, Phase.STARTED]]  # the first, a hand-out
    assert publisher.phases(K2) == [Phase.CREATING, Phase.STARTED]


async def test_a_failed_hand_out_publishes_creating_and_create_failed_together() -> None:
    backend, publisher, create = _rig()
    backend.prestarted.add(K1)
    backend.fail[K1] = m.KernelStartFailed("runner did not come up")

    with pytest.raises(Unavailable):
        await create([spec(K1)])

    assert publisher.together == [[Phase.CREATING, Phase.CREATE_FAILED]]
    assert publisher.of(K1, Phase.CREATE_FAILED)[0].message == "runner did not come up"


async def test_a_hand_out_whose_events_cannot_be_published_is_undone() -> None:
    backend, publisher, create = _rig()
    backend.prestarted.add(K1)
    publisher.failures_left = 1

    with pytest.raises(Unavailable):
        await create([spec(K1)])

    assert publisher.events == []  # neither event: the registry never saw this start
    assert backend.running == {}
    assert backend.destroy_calls == [(K1, "failed-to-start")]
