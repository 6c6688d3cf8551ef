"""The agent in-process: process backend, real Redis, a fake registry, calls over gRPC."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import SecretStr
from redis.asyncio import Redis
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.agent.v1 import kernel_service_pb2_grpc as pb_grpc
from shipyard.events.v1 import events_pb2
from shipyard.type.v1 import execution_pb2, resources_pb2

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_USER_ID
from libs.grpcutil.client import internal_channel
from libs.grpcutil.server import GrpcServer
from services.agent.app import RunningAgent, serve
from services.agent.config import Settings
from tests.integration.agent.fake_registry import FakeAgentRegistry, start_fake_registry
from tests.unit.agent.agent_fakes import eventually

pytestmark = pytest.mark.integration

Lifecycle = events_pb2.KernelLifecycle
MEM = 512 << 20


@dataclass
class Rig:
    agent: RunningAgent
    registry: FakeAgentRegistry
    stub: pb_grpc.KernelServiceStub
    redis: Redis
    stream: str

    async def lifecycle(self, kernel_id: str) -> list[events_pb2.KernelLifecycle]:
        out = []
        entries: Any = await self.redis.xrange(self.stream)
        for _, fields in entries:
            event = events_pb2.Event.FromString(fields[b"data"])
            if event.kernel_lifecycle.kernel_id == kernel_id:
                out.append(event.kernel_lifecycle)
        return out

    async def wait_phase(self, kernel_id: str, phase: int) -> events_pb2.KernelLifecycle:
        async def landed() -> bool:
            return any(e.phase == phase for e in await self.lifecycle(kernel_id))

        await eventually(landed, within=30.0)
        return next(e for e in await self.lifecycle(kernel_id) if e.phase == phase)

    async def create(self, startup_command: str = "") -> str:
        kernel_id = str(uuid.uuid4())
        spec = pb.KernelSpec(
            kernel_id=kernel_id,
            session_id=str(uuid.uuid4()),
            slots=resources_pb2.ResourceSlots(amounts={"cpu": "1", "mem": str(MEM)}),
            startup_command=startup_command,
        )
        await self.stub.CreateKernels(pb.CreateKernelsRequest(kernels=[spec]), timeout=60)
        return kernel_id


@pytest.fixture
def kernel_root() -> Iterator[Path]:
    # Short on purpose: a kernel's unix socket path must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="sy-", dir="/tmp") as root:
        yield Path(root)


@dataclass
class Env:
    redis: Redis
    redis_url: str
    key_prefix: str
    internal_token: str
    kernel_root: Path

    @contextlib.asynccontextmanager
    async def agent(
        self, registry: FakeAgentRegistry, registry_port: int, **extra: Any
    ) -> AsyncIterator[Rig]:
        settings = Settings(
            internal_token=SecretStr(self.internal_token),
            bind="127.0.0.1:0",
            agent_id=f"agent-{uuid.uuid4().hex[:8]}",
            registry_addr=f"127.0.0.1:{registry_port}",
            redis_url=self.redis_url,
            redis_prefix=self.key_prefix,
            kernel_root=self.kernel_root,
            cpu=Decimal(2),
            mem_bytes=2 << 30,
            register_backoff_max=0.2,
            **extra,
        )
        agent = await serve(settings)
        channel = internal_channel(f"127.0.0.1:{agent.port}", self.internal_token)
        stream = f"{self.key_prefix}events:kernel"
        try:
            yield Rig(agent, registry, pb_grpc.KernelServiceStub(channel), self.redis, stream)
        finally:
            await agent.stop()
            await channel.close()


@pytest.fixture
def env(
    redis: Redis, redis_url: str, key_prefix: str, internal_token: str, kernel_root: Path
) -> Env:
    return Env(redis, redis_url, key_prefix, internal_token, kernel_root)


@pytest.fixture
async def rig(env: Env) -> AsyncIterator[Rig]:
    registry = FakeAgentRegistry()
    server: GrpcServer = await start_fake_registry(registry, env.internal_token)
    try:
        async with env.agent(registry, server.port) as rig:
            yield rig
    finally:
        await server.stop(grace=0)


async def test_agent_registers_with_its_resources(rig: Rig) -> None:
    await eventually(lambda: bool(rig.registry.heartbeats))

    first = rig.registry.registrations[0]
    assert first.agent_id == rig.agent.agent_id
    assert first.address == f"127.0.0.1:{rig.agent.port}"
    assert first.resource_group == "default"
    assert dict(first.available_slots.amounts) == {"cpu": "2", "mem": str(2 << 30)}
    assert first.backend == "process"


async def test_kernels_keep_running_until_the_registry_comes_up(env: Env) -> None:
    registry = FakeAgentRegistry()
    with socket.socket() as probe:  # a port nobody listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with env.agent(registry, port) as rig:
        kernel_id = await rig.create()
        server = await start_fake_registry(registry, env.internal_token, f"127.0.0.1:{port}")
        try:
            await eventually(lambda: bool(registry.registrations), within=30.0)
        finally:
            await server.stop(grace=0)

    assert list(registry.registrations[0].live_kernel_ids) == [kernel_id]


async def test_created_kernel_runs_query_code(rig: Rig) -> None:
    kernel_id = await rig.create()

    reply = await rig.stub.Execute(
        pb.ExecuteRequest(
            kernel_id=kernel_id, mode=execution_pb2.EXECUTION_MODE_QUERY, code="print(6*7)"
        ),
        timeout=60,
    )

    assert reply.result.stdout == "42\n"
    assert reply.result.status == execution_pb2.EXECUTION_STATUS_FINISHED
    phases = [e.phase for e in await rig.lifecycle(kernel_id)]
    assert phases == [Lifecycle.PHASE_CREATING, Lifecycle.PHASE_STARTED]
    listed = await rig.stub.ListKernels(pb.ListKernelsRequest(), timeout=10)
    assert [k.kernel_id for k in listed.kernels] == [kernel_id]
    await eventually(lambda: any(kernel_id in h.live_kernel_ids for h in rig.registry.heartbeats))


async def test_batch_code_reports_its_exit_code(rig: Rig) -> None:
    kernel_id = await rig.create()

    reply = await rig.stub.Execute(
        pb.ExecuteRequest(
            kernel_id=kernel_id, mode=execution_pb2.EXECUTION_MODE_BATCH, code="exit 3"
        ),
        timeout=60,
    )

    assert reply.result.exit_code == 3


async def test_destroy_publishes_terminated_on_the_stream(rig: Rig) -> None:
    kernel_id = await rig.create()

    await rig.stub.DestroyKernel(
        pb.DestroyKernelRequest(kernel_id=kernel_id, reason="user-requested"), timeout=30
    )

    ended = await rig.wait_phase(kernel_id, Lifecycle.PHASE_TERMINATED)
    assert ended.reason == "user-requested"
    assert ended.agent_id == rig.agent.agent_id
    listed = await rig.stub.ListKernels(pb.ListKernelsRequest(), timeout=10)
    assert list(listed.kernels) == []


async def test_destroying_an_unknown_kernel_still_announces_its_end(rig: Rig) -> None:
    kernel_id, session_id = str(uuid.uuid4()), str(uuid.uuid4())

    await rig.stub.DestroyKernel(
        pb.DestroyKernelRequest(kernel_id=kernel_id, session_id=session_id), timeout=30
    )

    ended = await rig.wait_phase(kernel_id, Lifecycle.PHASE_TERMINATED)
    assert (ended.reason, ended.session_id) == ("already-terminated", session_id)


async def test_batch_kernel_ends_with_its_startup_command(rig: Rig) -> None:
    kernel_id = await rig.create(startup_command="exit 3")

    ended = await rig.wait_phase(kernel_id, Lifecycle.PHASE_TERMINATED)

    assert (ended.exit_code, ended.reason) == (3, "task-finished")
    phases = [e.phase for e in await rig.lifecycle(kernel_id)]
    assert phases == [
        Lifecycle.PHASE_CREATING,
        Lifecycle.PHASE_STARTED,
        Lifecycle.PHASE_TERMINATED,
    ]


async def test_kernels_the_registry_does_not_expect_are_destroyed(rig: Rig) -> None:
    kernel_id = await rig.create()
    rig.registry.to_destroy = [kernel_id]
    rig.registry.reregister = True

    ended = await rig.wait_phase(kernel_id, Lifecycle.PHASE_TERMINATED)

    assert ended.reason == "unknown-to-registry"
    assert len(rig.registry.registrations) >= 2


async def test_execute_in_an_unknown_kernel_is_not_found(rig: Rig) -> None:
    request = pb.ExecuteRequest(
        kernel_id=str(uuid.uuid4()), mode=execution_pb2.EXECUTION_MODE_QUERY, code="1"
    )

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rig.stub.Execute(request, timeout=10)

    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert _reason(info.value) == "KERNEL_NOT_FOUND"


async def test_calls_without_the_internal_token_are_refused(rig: Rig) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{rig.agent.port}") as channel:
        stub = pb_grpc.KernelServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.ListKernels(pb.ListKernelsRequest(), timeout=10)
        user = ((HEADER_INTERNAL_TOKEN, "test-internal-token"), (HEADER_USER_ID, "u-1"))
        with pytest.raises(grpc.aio.AioRpcError) as as_user:
            await stub.ListKernels(pb.ListKernelsRequest(), metadata=user, timeout=10)

    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert as_user.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_stopping_the_agent_ends_its_kernels(rig: Rig) -> None:
    kernel_id = await rig.create()

    await rig.agent.stop()

    ended = await rig.wait_phase(kernel_id, Lifecycle.PHASE_TERMINATED)
    assert ended.reason == "agent-shutdown"


def _reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""
