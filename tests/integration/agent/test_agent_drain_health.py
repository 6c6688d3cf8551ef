"""The agent in-process over gRPC: health in heartbeats, draining on stop (fake registry)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.type.v1 import resources_pb2

from tests.integration.agent.fake_registry import FakeAgentRegistry, start_fake_registry
from tests.integration.agent.test_agent_server import MEM, Env, env, kernel_root
from tests.unit.agent.agent_fakes import eventually

__all__ = ["env", "kernel_root"]

pytestmark = pytest.mark.integration


def _request() -> pb.CreateKernelsRequest:
    spec = pb.KernelSpec(
        kernel_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        slots=resources_pb2.ResourceSlots(amounts={"cpu": "1", "mem": str(MEM)}),
    )
    return pb.CreateKernelsRequest(kernels=[spec])


async def test_heartbeats_report_the_agent_healthy(env: Env) -> None:
    registry = FakeAgentRegistry(heartbeat_interval=0.05)
    server = await start_fake_registry(registry, env.internal_token)
    try:
        async with env.agent(registry, server.port):
            await eventually(lambda: len(registry.heartbeats) >= 2)
    finally:
        await server.stop(grace=0)
    assert all(h.HasField("health") for h in registry.heartbeats)
    assert all(h.health.healthy for h in registry.heartbeats), registry.heartbeats[-1].health


async def test_a_full_disk_is_reported_in_the_heartbeat(env: Env) -> None:
    registry = FakeAgentRegistry(heartbeat_interval=0.05)
    server = await start_fake_registry(registry, env.internal_token)
    try:
        async with env.agent(registry, server.port, min_free_disk_bytes=1 << 62):
            await eventually(lambda: bool(registry.heartbeats))
    finally:
        await server.stop(grace=0)
    health = registry.heartbeats[-1].health
    assert not health.healthy and "MiB free" in health.reason


async def test_stopping_drains_first_and_refuses_new_kernels_meanwhile(env: Env) -> None:
    registry = FakeAgentRegistry(heartbeat_interval=0.05)
    server = await start_fake_registry(registry, env.internal_token)
    try:
        async with env.agent(registry, server.port) as rig:
            await eventually(lambda: bool(registry.heartbeats))
            rig.agent.kernels.draining = True  # what stop() sets before anything else
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await rig.stub.CreateKernels(_request(), timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "draining" in (refused.value.details() or "")
            assert registry.drains == []
        # Leaving the block stopped the agent: it told the registry first.
        assert [d.agent_id for d in registry.drains] == [rig.agent.agent_id]
        assert registry.drains[0].reason == "shutting-down"
    finally:
        await server.stop(grace=0)
