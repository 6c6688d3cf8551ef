"""A restarted agent takes over the container kernels its previous run left: running ones are
adopted and reported again, ended ones removed."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import aiodocker
import pytest
from pydantic import SecretStr
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.agent.v1 import kernel_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2, resources_pb2

from libs.grpcutil.client import internal_channel
from services.agent.app import serve
from services.agent.config import Settings
from tests.conftest import INTERNAL_TOKEN
from tests.container_engine import PYTHON_IMAGE
from tests.integration.agent.container_kernels import (
    MEM,
    make_backend,
    owned_containers,
    query,
    spec,
)
from tests.integration.agent.container_kernels import agent_id as agent_id
from tests.integration.agent.container_kernels import kernel_root as kernel_root  # fixtures
from tests.integration.agent.container_kernels import url as url
from tests.integration.agent.fake_registry import FakeAgentRegistry, start_fake_registry
from tests.unit.agent.agent_fakes import eventually

pytestmark = pytest.mark.integration


async def test_a_restarted_agent_adopts_running_kernels_and_removes_ended_ones(
    url: str, agent_id: str, kernel_root: Path
) -> None:
    first = make_backend(url, agent_id, kernel_root)
    kept, lost = spec(), spec()
    await first.create(kept)
    await first.create(lost)
    await query(first, kept.kernel_id, "x = 41")
    await first.detach()  # as if the agent process had died
    docker = aiodocker.Docker(url=url)
    try:
        await docker.containers.container(f"shipyard-{lost.kernel_id}").kill(signal="SIGKILL")
    finally:
        await docker.close()

    second = make_backend(url, agent_id, kernel_root)
    try:
        adopted, removed = await second.adopt()
        assert (adopted, removed) == ([kept.kernel_id], [lost.kernel_id])
        assert [h.kernel_id for h in second.list()] == [kept.kernel_id]
        assert (await query(second, kept.kernel_id, "print(x + 1)")).stdout == "42\n"
        assert len(await owned_containers(url, agent_id)) == 1
    finally:
        await second.close()
    assert await owned_containers(url, agent_id) == []
    assert list(kernel_root.iterdir()) == []


async def test_an_agent_restart_keeps_its_kernels_and_reports_them_again(
    url: str, agent_id: str, kernel_root: Path, redis_url: str, key_prefix: str
) -> None:
    registry = FakeAgentRegistry()
    server = await start_fake_registry(registry, INTERNAL_TOKEN)
    settings = Settings(
        internal_token=SecretStr(INTERNAL_TOKEN),
        bind="127.0.0.1:0",
        agent_id=agent_id,
        registry_addr=f"127.0.0.1:{server.port}",
        redis_url=redis_url,
        redis_prefix=key_prefix,
        kernel_root=kernel_root,
        cpu=Decimal(2),
        mem_bytes=2 << 30,
        backend="container",
        docker_host=url,
        keep_kernels_on_stop=True,
    )
    kernel_id = str(uuid.uuid4())
    try:
        first = await serve(settings)
        # Registered before it stops, so that the second start's registration is the second.
        await eventually(lambda: len(registry.registrations) >= 1, within=10)
        async with internal_channel(f"127.0.0.1:{first.port}", INTERNAL_TOKEN) as channel:
            stub = pb_grpc.KernelServiceStub(channel)
            kernel = pb.KernelSpec(
                kernel_id=kernel_id,
                session_id=str(uuid.uuid4()),
                image=PYTHON_IMAGE,
                slots=resources_pb2.ResourceSlots(amounts={"cpu": "1", "mem": str(MEM)}),
            )
            await stub.CreateKernels(pb.CreateKernelsRequest(kernels=[kernel]), timeout=60)
            await stub.Execute(_query(kernel_id, "x = 41"), timeout=30)
        await first.stop()
        assert len(await owned_containers(url, agent_id)) == 1  # still running

        second = await serve(settings)
        try:
            await eventually(lambda: len(registry.registrations) >= 2, within=10)
            assert list(registry.registrations[-1].live_kernel_ids) == [kernel_id]
            async with internal_channel(f"127.0.0.1:{second.port}", INTERNAL_TOKEN) as channel:
                stub = pb_grpc.KernelServiceStub(channel)
                reply = await stub.Execute(_query(kernel_id, "print(x + 1)"), timeout=30)
                assert reply.result.stdout == "42\n"
        finally:
            await second.stop()  # without keep_kernels_on_stop this would end them
    finally:
        await server.stop(grace=0)
        leftover = make_backend(url, agent_id, kernel_root)
        await leftover.adopt()
        await leftover.close()
    assert await owned_containers(url, agent_id) == []


def _query(kernel_id: str, code: str) -> pb.ExecuteRequest:
    return pb.ExecuteRequest(
        kernel_id=kernel_id, mode=execution_pb2.EXECUTION_MODE_QUERY, code=code
    )
