"""Registration and heartbeats against a fake registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from services.agent.service.outbound import AgentInfo
from services.agent.service.registration import RegistrationLoop
from tests.unit.agent.agent_fakes import FakeRegistry, eventually

INFO = AgentInfo(
    agent_id="agent-1",
    address="127.0.0.1:50060",
    resource_group="default",
    cpu=Decimal(4),
    mem_bytes=8 << 30,
    backend="fake",
)


@dataclass
class Rig:
    registry: FakeRegistry
    loop: RegistrationLoop
    live: list[str]
    destroyed: list[tuple[str, str]]
    inventory: list[str]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    registry, live, destroyed = FakeRegistry(), ["k-1"], []
    inventory = ["docker.io/library/python:3.11"]

    async def images() -> list[str]:
        return list(inventory)

    async def destroy(kernel_id: str, session_id: str, reason: str) -> None:
        destroyed.append((kernel_id, reason))
        live.remove(kernel_id)

    loop = RegistrationLoop(
        registry,
        INFO,
        live_ids=lambda: list(live),
        destroy=destroy,
        cleanup_reason="unknown-to-registry",
        images=images,
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    rig = Rig(registry, loop, live, destroyed, inventory)
    task = asyncio.create_task(loop.run())
    yield rig
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_registers_with_live_kernels_then_heartbeats(rig: Rig) -> None:
    await eventually(lambda: len(rig.registry.heartbeats) >= 2)

    assert rig.registry.registrations == [["k-1"]]
    assert rig.registry.heartbeats[-1] == ["k-1"]


async def test_retries_until_the_registry_is_reachable_keeping_kernels() -> None:
    registry = FakeRegistry()
    registry.down = True
    destroyed: list[str] = []

    async def destroy(kernel_id: str, session_id: str, reason: str) -> None:
        destroyed.append(kernel_id)

    loop = RegistrationLoop(
        registry,
        INFO,
        live_ids=lambda: ["k-1"],
        destroy=destroy,
        cleanup_reason="unknown-to-registry",
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    task = asyncio.create_task(loop.run())
    try:
        await eventually(lambda: registry.refused >= 3)
        assert loop.registrations == 0
        registry.down = False
        await eventually(lambda: loop.registrations == 1)
        assert destroyed == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_destroys_the_kernels_the_registry_does_not_expect(rig: Rig) -> None:
    await eventually(lambda: bool(rig.registry.heartbeats))
    rig.registry.to_destroy = ("k-1",)
    rig.registry.reregister = True

    await eventually(lambda: rig.destroyed == [("k-1", "unknown-to-registry")])
    await eventually(lambda: bool(rig.registry.heartbeats) and rig.registry.heartbeats[-1] == [])
    assert rig.loop.registrations == 2


async def test_registers_again_after_the_registry_was_unreachable(rig: Rig) -> None:
    await eventually(lambda: rig.loop.registrations == 1)
    rig.registry.down = True
    await eventually(lambda: rig.registry.refused >= 2)
    rig.registry.down = False

    await eventually(lambda: rig.loop.registrations == 2)
    assert rig.destroyed == []


async def test_registration_and_heartbeats_report_the_images_present_now(rig: Rig) -> None:
    await eventually(lambda: bool(rig.registry.heartbeats))
    assert rig.registry.inventories[0] == ["docker.io/library/python:3.11"]
    rig.inventory.append("cr.test:5000/shipyard/busybox:1")  # a pull finished
    await eventually(lambda: "cr.test:5000/shipyard/busybox:1" in rig.registry.inventories[-1])
