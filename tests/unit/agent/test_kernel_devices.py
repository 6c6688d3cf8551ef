"""Kernels get their devices when created and give them back whenever they end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from libs.core.errors import Internal, Unavailable
from services.agent.domain.devices import AllocationMode, Device, DevicePool
from services.agent.service.accelerators import Accelerators
from services.agent.service.create_kernels import CreateKernels
from services.agent.service.destroy_kernel import DestroyKernel
from services.agent.service.exit_watch import ExitWatcher
from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import Phase
from tests.unit.agent.agent_fakes import FakeBackend, FakePublisher, eventually, spec

ONE_GPU = {"cuda.device": Decimal(1)}


@dataclass
class Rig:
    backend: FakeBackend
    publisher: FakePublisher
    accelerators: Accelerators
    create: CreateKernels
    destroy: DestroyKernel


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    devices = [
        Device(device_id=f"gpu{i}", name="G", memory_bytes=1, nodes=(f"/d/nvidia{i}",))
        for i in range(2)
    ]
    pool = DevicePool(
        family="cuda",
        mode=AllocationMode.DISCRETE,
        devices=devices,
        shared_nodes=["/d/nvidiactl"],
        visible_env="CUDA_VISIBLE_DEVICES",
    )
    backend, publisher, accelerators = FakeBackend(), FakePublisher(), Accelerators([pool])
    kernels = AgentKernels(backend, publisher, "agent-1", accelerators)
    watcher = asyncio.create_task(ExitWatcher(kernels, retry_initial=0.01).run())
    yield Rig(backend, publisher, accelerators, CreateKernels(kernels), DestroyKernel(kernels))
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)


async def test_the_backend_gets_the_granted_nodes_and_variables(rig: Rig) -> None:
    user_env = {"CUDA_VISIBLE_DEVICES": "gpu1", "FOO": "bar"}
    await rig.create([spec("k1", accelerator_slots=ONE_GPU, environ=user_env)])
    await rig.create([spec("k2", accelerator_slots=ONE_GPU)])
    k1, k2 = rig.backend.created_specs["k1"], rig.backend.created_specs["k2"]
    assert k1.devices == ("/d/nvidia0", "/d/nvidiactl")
    # The grant wins over what the session asked to see.
    assert k1.environ == {"CUDA_VISIBLE_DEVICES": "gpu0", "FOO": "bar"}
    assert k2.devices == ("/d/nvidia1", "/d/nvidiactl")


async def test_a_kernel_without_accelerator_slots_gets_no_devices(rig: Rig) -> None:
    await rig.create([spec("k1")])
    assert rig.backend.created_specs["k1"].devices == ()
    assert rig.accelerators.held() == {}


async def test_an_ended_kernel_frees_its_device_before_its_end_is_announced(rig: Rig) -> None:
    await rig.create([spec("k1", accelerator_slots=ONE_GPU)])
    held_when_announced: list[bool] = []
    publish = rig.publisher.publish

    async def spying(event: object) -> None:
        if getattr(event, "phase", None) is Phase.TERMINATED:
            held_when_announced.append("k1" in rig.accelerators.held())
        await publish(event)  # type: ignore[arg-type]

    rig.publisher.publish = spying  # type: ignore[method-assign]
    rig.backend.exit_by_itself("k1", 0)
    await eventually(lambda: bool(held_when_announced))
    assert held_when_announced == [False]


async def test_a_destroyed_kernel_frees_its_device_for_the_next(rig: Rig) -> None:
    await rig.create([spec("k1", accelerator_slots={"cuda.device": Decimal(2)})])
    with pytest.raises(Internal, match="0 free"):
        await rig.create([spec("k2", accelerator_slots=ONE_GPU)])
    await rig.destroy("k1")
    await eventually(lambda: rig.accelerators.held() == {})
    await rig.create([spec("k3", accelerator_slots=ONE_GPU)])
    assert rig.backend.created_specs["k3"].devices[0] == "/d/nvidia0"


async def test_a_kernel_that_fails_to_start_gives_its_device_back(rig: Rig) -> None:
    rig.backend.fail["k1"] = Unavailable("no runner")
    with pytest.raises(Unavailable):
        await rig.create([spec("k1", accelerator_slots=ONE_GPU)])
    assert rig.accelerators.held() == {}
    assert rig.publisher.phases("k1") == [Phase.CREATING, Phase.CREATE_FAILED]


async def test_a_slot_the_agent_lacks_fails_the_creation_with_its_name(rig: Rig) -> None:
    with pytest.raises(Internal, match=r"rocm\.device"):
        await rig.create([spec("k1", accelerator_slots={"rocm.device": Decimal(1)})])
    failed = rig.publisher.of("k1", Phase.CREATE_FAILED)[0]
    assert "rocm.device" in failed.message
    assert "k1" not in rig.backend.created_specs
