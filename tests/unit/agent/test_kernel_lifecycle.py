"""Kernel use cases against a fake backend and a fake event publisher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import TracerProvider

from libs.core.errors import Internal, Unavailable
from services.agent.domain import model as m
from services.agent.service.create_kernels import CreateKernels
from services.agent.service.destroy_kernel import DestroyKernel
from services.agent.service.execute import ExecuteCode
from services.agent.service.exit_watch import ExitWatcher, shut_down_kernels
from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import Phase
from tests.unit.agent.agent_fakes import FakeBackend, FakePublisher, eventually, spec

K1, K2, K3 = "k-1", "k-2", "k-3"


@dataclass
class Rig:
    backend: FakeBackend
    publisher: FakePublisher
    kernels: AgentKernels
    create: CreateKernels
    destroy: DestroyKernel
    execute: ExecuteCode


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    backend, publisher = FakeBackend(), FakePublisher()
    kernels = AgentKernels(backend, publisher, "agent-1")
    watcher = asyncio.create_task(ExitWatcher(kernels, retry_initial=0.01).run())
    yield Rig(
        backend,
        publisher,
        kernels,
        CreateKernels(kernels),
        DestroyKernel(kernels),
        ExecuteCode(kernels, default_timeout=30.0),
    )
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)


async def test_create_announces_creating_then_started(rig: Rig) -> None:
    handles = await rig.create([spec(K1, "s-9")])

    assert [h.kernel_id for h in handles] == [K1]
    assert rig.publisher.phases(K1) == [Phase.CREATING, Phase.STARTED]
    started = rig.publisher.of(K1, Phase.STARTED)[0]
    assert (started.session_id, started.agent_id) == ("s-9", "agent-1")


async def test_create_events_carry_the_callers_trace() -> None:
    backend, publisher = FakeBackend(), FakePublisher()
    create = CreateKernels(AgentKernels(backend, publisher, "agent-1"))
    tracer = TracerProvider().get_tracer("test")

    with tracer.start_as_current_span("create") as span:
        await create([spec(K1)])

    trace_id = format(span.get_span_context().trace_id, "032x")
    assert all(trace_id in e.trace_context["traceparent"] for e in publisher.events)


async def test_failed_create_announces_create_failed_and_raises(rig: Rig) -> None:
    rig.backend.fail[K1] = m.KernelStartFailed("runner did not come up")

    with pytest.raises(Unavailable) as info:
        await rig.create([spec(K1)])

    assert info.value.reason == "KERNEL_CREATE_FAILED"
    assert rig.publisher.phases(K1) == [Phase.CREATING, Phase.CREATE_FAILED]
    failed = rig.publisher.of(K1, Phase.CREATE_FAILED)[0]
    assert failed.message == "runner did not come up"
    assert failed.reason == "failed-to-start"


async def test_unexpected_create_error_is_internal(rig: Rig) -> None:
    rig.backend.fail[K1] = RuntimeError("boom")

    with pytest.raises(Internal) as info:
        await rig.create([spec(K1)])

    assert info.value.reason == "KERNEL_CREATE_FAILED"
    assert "boom" in rig.publisher.of(K1, Phase.CREATE_FAILED)[0].message


async def test_partial_failure_destroys_the_started_siblings(rig: Rig) -> None:
    rig.backend.fail[K2] = m.KernelStartFailed("no memory")

    with pytest.raises(Unavailable):
        await rig.create([spec(K1), spec(K2), spec(K3)])

    assert rig.backend.running == {}
    assert sorted(rig.backend.destroy_calls) == [(K1, "failed-to-start"), (K3, "failed-to-start")]
    await eventually(lambda: bool(rig.publisher.of(K3, Phase.TERMINATED)))
    assert rig.publisher.phases(K1) == [Phase.CREATING, Phase.STARTED, Phase.TERMINATED]
    assert rig.publisher.of(K1, Phase.TERMINATED)[0].reason == "failed-to-start"


async def test_creating_a_running_kernel_again_returns_it(rig: Rig) -> None:
    first = await rig.create([spec(K1)])
    again = await rig.create([spec(K1)])

    assert again == first
    assert rig.backend.create_calls == [K1]
    assert rig.publisher.phases(K1) == [Phase.CREATING, Phase.STARTED]


async def test_concurrent_duplicate_creates_start_one_kernel(rig: Rig) -> None:
    rig.backend.create_gate = asyncio.Event()
    calls = [asyncio.create_task(rig.create([spec(K1)])) for _ in range(3)]
    await eventually(lambda: rig.backend.create_calls == [K1])
    rig.backend.create_gate.set()

    results = await asyncio.gather(*calls)

    assert all(r == results[0] for r in results)
    assert rig.backend.create_calls == [K1]


async def test_destroy_publishes_terminated_with_the_requested_reason(rig: Rig) -> None:
    await rig.create([spec(K1, "s-1")])

    await rig.destroy(K1, "s-1", "")

    assert rig.backend.destroy_calls == [(K1, "user-requested")]
    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))
    ended = rig.publisher.of(K1, Phase.TERMINATED)[0]
    assert (ended.reason, ended.exit_code, ended.session_id) == ("user-requested", 143, "s-1")


async def test_destroying_an_unknown_kernel_still_announces_its_end(rig: Rig) -> None:
    await rig.destroy(K1, "s-1", "user-requested")

    assert rig.backend.destroy_calls == []
    ended = rig.publisher.of(K1, Phase.TERMINATED)
    assert [(e.reason, e.session_id) for e in ended] == [("already-terminated", "s-1")]


async def test_destroying_an_ended_kernel_announces_its_end_again(rig: Rig) -> None:
    # The registry may have dropped the first one; duplicates are no-ops there.
    await rig.create([spec(K1)])
    rig.backend.exit_by_itself(K1, 0)
    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))

    await rig.destroy(K1, "s-1", "user-requested")

    reasons = [e.reason for e in rig.publisher.of(K1, Phase.TERMINATED)]
    assert reasons == ["self-terminated", "already-terminated"]


async def test_a_destroy_given_up_during_a_long_creation_still_stops_the_kernel(
    rig: Rig,
) -> None:
    rig.backend.create_gate = asyncio.Event()  # e.g. an image pull that takes minutes
    creation = asyncio.create_task(rig.create([spec(K1)]))
    await eventually(lambda: rig.backend.create_calls == [K1])
    destroy = asyncio.create_task(rig.destroy(K1, "s-1", "failed-to-start"))
    await asyncio.sleep(0.01)
    destroy.cancel()  # the registry's deadline passed
    await asyncio.gather(destroy, return_exceptions=True)

    rig.backend.create_gate.set()
    await creation

    await eventually(lambda: rig.backend.destroy_calls == [(K1, "failed-to-start")])
    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))
    assert rig.kernels.live_ids() == []


async def test_concurrent_destroys_announce_the_end_once(rig: Rig) -> None:
    await rig.create([spec(K1)])
    rig.backend.destroy_gate = asyncio.Event()
    first = asyncio.create_task(rig.destroy(K1, "s-1", "user-requested"))
    await eventually(lambda: bool(rig.backend.destroy_calls))
    second = asyncio.create_task(rig.destroy(K1, "s-1", "user-requested"))
    rig.backend.destroy_gate.set()

    await asyncio.gather(first, second)

    # A wrong "already-terminated" would come from destroy itself, so it would be there now.
    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))
    assert [e.reason for e in rig.publisher.of(K1, Phase.TERMINATED)] == ["user-requested"]


async def test_a_kernel_ending_while_created_is_announced_after_started(rig: Rig) -> None:
    rig.publisher.delays[Phase.STARTED] = 0.05  # the exit would overtake a slow STARTED
    rig.backend.exit_during_create[K1] = 3

    await rig.create([spec(K1)])

    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))
    assert rig.publisher.phases(K1) == [Phase.CREATING, Phase.STARTED, Phase.TERMINATED]
    assert rig.publisher.of(K1, Phase.TERMINATED)[0].exit_code == 3


async def test_a_kernel_that_exits_by_itself_is_reported_with_its_exit_code(rig: Rig) -> None:
    await rig.create([spec(K1)])

    rig.backend.exit_by_itself(K1, 3)

    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))
    ended = rig.publisher.of(K1, Phase.TERMINATED)[0]
    assert (ended.reason, ended.exit_code) == ("self-terminated", 3)


async def test_an_end_is_published_once_the_stream_is_back(rig: Rig) -> None:
    await rig.create([spec(K1)])
    rig.publisher.failures_left = 3

    rig.backend.exit_by_itself(K1, 0)

    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))
    assert rig.publisher.failures_left == 0


async def test_destroy_continues_the_destroy_requests_trace(rig: Rig) -> None:
    await rig.create([spec(K1)])
    tracer = TracerProvider().get_tracer("test")

    with tracer.start_as_current_span("destroy") as span:
        await rig.destroy(K1, "s-1", "user-requested")

    await eventually(lambda: bool(rig.publisher.of(K1, Phase.TERMINATED)))
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace_id in rig.publisher.of(K1, Phase.TERMINATED)[0].trace_context["traceparent"]


async def test_execute_runs_code_in_a_known_kernel(rig: Rig) -> None:
    await rig.create([spec(K1)])

    result = await rig.execute(K1, m.ExecMode.QUERY, "print(6*7)")

    assert result.stdout == "42\n"
    assert rig.backend.exec_calls == [(K1, m.ExecMode.QUERY, "print(6*7)", 30.0)]


async def test_execute_in_an_unknown_kernel_is_not_found(rig: Rig) -> None:
    with pytest.raises(m.KernelNotFound) as info:
        await rig.execute(K1, m.ExecMode.QUERY, "1")

    assert info.value.reason == "KERNEL_NOT_FOUND"
    assert rig.backend.exec_calls == []


async def test_shutdown_destroys_every_kernel_and_publishes_their_ends(rig: Rig) -> None:
    await rig.create([spec(K1), spec(K2)])

    assert await shut_down_kernels(rig.kernels, wait_s=5.0)

    assert rig.backend.closed
    for kid in (K1, K2):
        assert [e.reason for e in rig.publisher.of(kid, Phase.TERMINATED)] == ["agent-shutdown"]
    with pytest.raises(Unavailable) as info:
        await rig.create([spec(K3)])
    assert info.value.reason == "AGENT_SHUTTING_DOWN"
