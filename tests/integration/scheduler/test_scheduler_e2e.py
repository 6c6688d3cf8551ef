from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from shipyard.registry.v1 import scheduling_service_pb2 as reg_pb
from shipyard.registry.v1 import scheduling_service_pb2_grpc as reg_grpc
from shipyard.scheduler.v1 import scheduler_service_pb2 as sched_pb
from shipyard.scheduler.v1 import scheduler_service_pb2_grpc as sched_grpc
from shipyard.type.v1 import resources_pb2

from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers
from services.auth.app import serve as serve_auth
from services.auth.config import Settings as AuthSettings
from services.scheduler.adapters.registry_client import SPAN_NAME
from services.scheduler.app import serve
from services.scheduler.config import Settings
from tests.integration.scheduler.fake_registry import FakeSchedulingService
from tests.unit.scheduler.factories import wait_until

pytestmark = pytest.mark.integration

GiB = 1024**3
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _agent(agent_id: str, cpu: int, mem_gib: int) -> reg_pb.AgentState:
    return reg_pb.AgentState(
        agent_id=agent_id,
        alive=True,
        resource_group="default",
        available_slots=resources_pb2.ResourceSlots(
            amounts={"cpu": str(cpu), "mem": str(mem_gib * GiB)}
        ),
        occupied_slots=resources_pb2.ResourceSlots(),
    )


def _traceparent() -> tuple[str, str, str]:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def _session(*, cpu: int, mem_gib: int, age: int, access_key: str = "AKUSER", traceparent=""):
    session = reg_pb.PendingSession(
        session_id=str(uuid.uuid4()),
        access_key=access_key,
        resource_group="default",
        kernels=[
            reg_pb.PendingKernel(
                kernel_id=str(uuid.uuid4()),
                requested_slots=resources_pb2.ResourceSlots(
                    amounts={"cpu": str(cpu), "mem": str(mem_gib * GiB)}
                ),
            )
        ],
        trace_context={"traceparent": traceparent} if traceparent else {},
    )
    session.create_time.FromDatetime(T0 + timedelta(minutes=age))
    return session


@pytest.fixture
async def start_registry():
    servers = []

    async def start(fake: FakeSchedulingService) -> str:
        server = grpc.aio.server()
        reg_grpc.add_SchedulingServiceServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(0)


@pytest.fixture(scope="module")
async def policy_addr(database_url, redis_url, internal_token):
    """Auth, for limits: it knows none of the fake registry's keypairs, so none apply."""
    auth = await serve_auth(
        AuthSettings(
            internal_token=internal_token,
            database_url=database_url,
            redis_url=redis_url,
            bind="127.0.0.1:0",
            authz_bind="127.0.0.1:0",
            bootstrap_admin_email=f"root-{uuid.uuid4().hex[:6]}@example.com",
        )
    )
    yield f"127.0.0.1:{auth.port}"
    await auth.stop(grace=0)


@pytest.fixture
async def start_scheduler(redis, redis_url, key_prefix, internal_token, policy_addr):
    running = []

    async def start(registry_addr: str, scheduler_id: str, tracer=None):
        settings = Settings(
            internal_token=internal_token,
            bind="127.0.0.1:0",
            registry_addr=registry_addr,
            auth_addr=policy_addr,
            redis_url=redis_url,
            redis_prefix=key_prefix,
            scheduler_id=scheduler_id,
            lease_ttl=1.0,
            tick_interval=0.1,
        )
        scheduler = await serve(settings, tracer=tracer)
        running.append(scheduler)
        return scheduler

    yield start
    for scheduler in running:
        await scheduler.stop()
    await redis.delete(f"{key_prefix}scheduler:leader", f"{key_prefix}scheduler:leader:epoch")


def _channel_metadata(token: str, caller: Caller) -> list[tuple[str, str]]:
    return [(HEADER_INTERNAL_TOKEN, token), *caller_to_headers(caller).items()]


async def test_a_cycle_binds_in_fifo_order_notes_the_too_large_and_retries_conflicts(
    start_registry, start_scheduler, internal_token
):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    old_tp, old_trace, old_span = _traceparent()
    new_tp, _, new_span = _traceparent()
    old = _session(cpu=2, mem_gib=2, age=0, traceparent=old_tp)
    new = _session(cpu=2, mem_gib=2, age=1, traceparent=new_tp)
    big = _session(cpu=1, mem_gib=64, age=2, access_key="AKBIG")
    fake = FakeSchedulingService([_agent("agent-1", cpu=8, mem_gib=8)], [new, big, old])
    fake.conflicts[new.session_id] = "agent-capacity-exceeded"

    scheduler = await start_scheduler(
        await start_registry(fake), "sched-a", tracer=provider.get_tracer("test")
    )
    await wait_until(lambda: {old.session_id, new.session_id} <= set(fake.bound_ids()))

    first, metadata = fake.binds[0]
    assert first.scheduler_id == "sched-a"
    assert [p.session_id for p in first.placements] == [old.session_id, new.session_id]
    assert [k.agent_id for p in first.placements for k in p.kernels] == ["agent-1", "agent-1"]
    (note,) = first.unschedulable
    assert (note.session_id, note.reason) == (big.session_id, "no-available-instances")
    assert note.message == (
        "no agent in resource group 'default' has mem 64 GiB free (largest free: 4 GiB); "
        "mem short by 60 GiB on 1 of 1 agents"
    )
    # The conflicting session was forgotten and bound by a later call.
    retried = [p.session_id for request, _ in fake.binds[1:] for p in request.placements]
    assert new.session_id in retried

    # The creating request's trace goes on into the scheduler and back to the registry.
    assert old_trace in metadata.get("traceparent", "")
    span = next(s for s in exporter.get_finished_spans() if s.name == SPAN_NAME)
    assert format(span.context.trace_id, "032x") == old_trace
    assert format(span.parent.span_id, "016x") == old_span
    assert [format(link.context.span_id, "016x") for link in span.links] == [new_span]

    async with grpc.aio.insecure_channel(f"127.0.0.1:{scheduler.port}") as channel:
        stub = sched_grpc.SchedulerServiceStub(channel)
        admin = Caller(user_id="u0", access_key="AKADMIN", role=Role.SUPERADMIN)
        response = await stub.ListPendingSessions(
            sched_pb.ListPendingSessionsRequest(),
            metadata=_channel_metadata(internal_token, admin),
        )
        assert response.leader
        (queued,) = response.sessions
        assert queued.session_id == big.session_id
        assert queued.pending_reason == "no-available-instances"
        assert queued.attempts >= 1

        user = Caller(user_id="u1", access_key="AKUSER", role=Role.USER)
        response = await stub.ListPendingSessions(
            sched_pb.ListPendingSessionsRequest(),
            metadata=_channel_metadata(internal_token, user),
        )
        assert list(response.sessions) == []


async def test_the_scheduler_resyncs_after_the_watch_breaks(start_registry, start_scheduler):
    first = _session(cpu=1, mem_gib=1, age=0)
    fake = FakeSchedulingService([_agent("agent-1", cpu=4, mem_gib=8)], [first])
    await start_scheduler(await start_registry(fake), "sched-a")
    await wait_until(lambda: first.session_id in fake.bound_ids())

    incremental = _session(cpu=1, mem_gib=1, age=1)
    fake.add_pending(incremental)
    await wait_until(lambda: incremental.session_id in fake.bound_ids())

    fake.break_watches()
    await wait_until(lambda: fake.watches == 2)
    # Queued while the watch was down: only the new snapshot can bring it.
    after = _session(cpu=1, mem_gib=1, age=2)
    fake.pending[after.session_id] = after
    fake.break_watches()
    await wait_until(lambda: after.session_id in fake.bound_ids())


async def test_a_standby_takes_over_when_the_leader_stops(start_registry, start_scheduler):
    fake = FakeSchedulingService([_agent("agent-1", cpu=4, mem_gib=8)], [])
    addr = await start_registry(fake)
    leader = await start_scheduler(addr, "sched-a")
    await wait_until(lambda: leader.elector.is_leader)
    standby = await start_scheduler(addr, "sched-b")
    await wait_until(lambda: standby.sync.synced)
    assert not standby.elector.is_leader

    s1 = _session(cpu=1, mem_gib=1, age=0)
    fake.add_pending(s1)
    await wait_until(lambda: s1.session_id in fake.bound_ids())

    await leader.stop()  # releases the lease
    await wait_until(lambda: standby.elector.is_leader)
    s2 = _session(cpu=1, mem_gib=1, age=1)
    fake.add_pending(s2)
    await wait_until(lambda: s2.session_id in fake.bound_ids())
    assert {request.scheduler_id for request, _ in fake.binds} == {"sched-a", "sched-b"}
    assert fake.binds[-1][0].scheduler_id == "sched-b"
    # Every bind is fenced with its leader's tenure; the successor's is greater.
    epochs = {request.scheduler_id: request.lease_epoch for request, _ in fake.binds}
    assert 0 < epochs["sched-a"] < epochs["sched-b"]
