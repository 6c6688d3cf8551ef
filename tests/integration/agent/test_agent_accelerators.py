"""The agent with mock accelerators: slots at registration, grants, and a restart's cleanup."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.type.v1 import execution_pb2, resources_pb2

from libs.grpcutil.server import GrpcServer
from tests.integration.agent import test_agent_server as agent_server
from tests.integration.agent.fake_registry import FakeAgentRegistry, start_fake_registry
from tests.integration.agent.test_agent_server import Env, Rig
from tests.unit.agent.agent_fakes import eventually

pytestmark = pytest.mark.integration

# The agent-server rig's fixtures, shared rather than copied.
kernel_root = agent_server.kernel_root
env = agent_server.env

CONFIG = """
mode = "shares"
[[devices]]
id = "m0"
nodes = ["mock0"]
[[devices]]
id = "m1"
nodes = ["mock1"]
"""


@pytest.fixture
def mock_config(tmp_path: Path) -> Path:
    path = tmp_path / "mock.toml"
    path.write_text(CONFIG)
    return path


async def create(rig: Rig, shares: str) -> str:
    kernel_id = str(uuid.uuid4())
    spec = pb.KernelSpec(
        kernel_id=kernel_id,
        session_id=str(uuid.uuid4()),
        slots=resources_pb2.ResourceSlots(
            amounts={"cpu": "0.5", "mem": str(256 << 20), "cuda.shares": shares}
        ),
    )
    await rig.stub.CreateKernels(pb.CreateKernelsRequest(kernels=[spec]), timeout=60)
    return kernel_id


async def visible(rig: Rig, kernel_id: str) -> str:
    reply = await rig.stub.Execute(
        pb.ExecuteRequest(
            kernel_id=kernel_id,
            mode=execution_pb2.EXECUTION_MODE_QUERY,
            code="import os; print(os.environ['CUDA_VISIBLE_DEVICES'])",
        ),
        timeout=30,
    )
    return str(reply.result.stdout).strip()


async def test_slots_grants_and_a_restart_that_frees_what_dead_kernels_held(
    env: Env, mock_config: Path, tmp_path: Path
) -> None:
    registry = FakeAgentRegistry()
    server: GrpcServer = await start_fake_registry(registry, env.internal_token)
    device_dir = tmp_path / "devices"
    settings = {
        "accelerators": "mock",
        "mock_accelerator_config": mock_config,
        "device_dir": device_dir,
    }
    ledger = device_dir / "allocations.json"
    try:
        async with env.agent(registry, server.port, **settings) as rig:
            await eventually(lambda: bool(registry.registrations))
            slots = dict(registry.registrations[0].available_slots.amounts)
            assert slots["cuda.shares"] == "2"
            big = await create(rig, "1.5")
            small = await create(rig, "0.5")
            assert await visible(rig, big) == "m0,m1"
            assert await visible(rig, small) == "m1"
            assert set(json.loads(ledger.read_text())) == {big, small}
            # A crash would leave the map as it is: keep a copy to put back after the stop.
            crashed_map = ledger.read_text()
        assert json.loads(ledger.read_text()) == {}  # a clean stop released everything

        ledger.write_text(crashed_map)
        async with env.agent(registry, server.port, **settings) as rig:
            # The kernels of the previous run are gone, so all their shares are free again.
            assert json.loads(ledger.read_text()) == {}
            whole = await create(rig, "2")
            assert await visible(rig, whole) == "m0,m1"
    finally:
        await server.stop(grace=0)
