"""Bounded kernel starts, draining on SIGTERM and the health probe (agent use cases, fakes)."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from pathlib import Path

import pytest
from typing_extensions import override

from libs.core.errors import Unavailable
from services.agent.domain import model as m
from services.agent.service.create_kernels import AGENT_DRAINING, CreateKernels
from services.agent.service.drain import DRAIN_REASON, Drain
from services.agent.service.health import HealthMonitor, disk_space_check
from services.agent.service.kernels import AgentKernels
from services.agent.service.outbound import AgentHealth
from services.agent.service.registration import RegistrationLoop
from tests.unit.agent.agent_fakes import (
    FakeBackend,
    FakePublisher,
    FakeRegistry,
    eventually,
)
from tests.unit.agent.test_registration import INFO


def _spec(kernel_id: str, startup_command: str = "") -> m.KernelSpec:
    return m.KernelSpec(
        kernel_id=kernel_id,
        session_id=f"s-{kernel_id}",
        image="python",
        cpu=Decimal(1),
        mem_bytes=1 << 28,
        mounts=(),
        environ={},
        startup_command=startup_command,
    )


class GatedBackend(FakeBackend):
    """Each create waits until the test releases it; records how many run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release: dict[str, asyncio.Event] = {}
        self.concurrent = 0
        self.peak = 0
        self.began: list[str] = []

    @override
    async def create(self, spec: m.KernelSpec) -> m.KernelHandle:
        self.began.append(spec.kernel_id)
        self.concurrent += 1
        self.peak = max(self.peak, self.concurrent)
        try:
            await self.release.setdefault(spec.kernel_id, asyncio.Event()).wait()
            return await super().create(spec)
        finally:
            self.concurrent -= 1


def _rig() -> tuple[GatedBackend, AgentKernels]:
    backend = GatedBackend()
    return backend, AgentKernels(backend, FakePublisher(), "agent-1")


async def test_at_most_k_kernels_start_at_once_and_the_rest_wait_in_order() -> None:
    backend, kernels = _rig()
    create = CreateKernels(kernels, max_starts=2)
    ids = [f"k{i}" for i in range(6)]
    calls = [asyncio.create_task(create([_spec(k)])) for k in ids]
    await eventually(lambda: len(backend.began) == 2)
    assert (create.starting, create.queued) == (2, 4)
    for kid in ids:
        backend.release.setdefault(kid, asyncio.Event()).set()
        await eventually(lambda kid=kid: kernels.find(kid) is not None)
    await asyncio.gather(*calls)
    assert backend.peak == 2
    assert backend.began == ids  # first come, first served


async def test_the_default_bound_is_the_number_of_cores() -> None:
    _, kernels = _rig()
    assert CreateKernels(kernels).max_starts == (os.cpu_count() or 1)


async def test_a_draining_agent_refuses_new_kernels_with_agent_draining() -> None:
    _, kernels = _rig()
    kernels.draining = True
    with pytest.raises(Unavailable) as refused:
        await CreateKernels(kernels)([_spec("k1")])
    assert refused.value.reason == AGENT_DRAINING
    assert refused.value.code == "UNAVAILABLE"


async def test_drain_leaves_scheduling_first_then_lets_in_flight_starts_finish() -> None:
    backend, kernels = _rig()
    registry = FakeRegistry()
    create = CreateKernels(kernels, max_starts=4)
    in_flight = asyncio.create_task(create([_spec("k1")]))
    await eventually(lambda: backend.began == ["k1"])

    draining = asyncio.create_task(Drain(kernels, registry, "agent-1", deadline=5.0)())
    await eventually(lambda: registry.drains == [("agent-1", DRAIN_REASON)])
    with pytest.raises(Unavailable):
        await create([_spec("k2")])
    assert not draining.done()  # still waiting for k1
    backend.release["k1"].set()
    assert await draining is True
    assert [h.kernel_id for h in await in_flight] == ["k1"]
    assert backend.began == ["k1"]


async def test_drain_lets_running_batch_kernels_end_but_not_interactive_ones() -> None:
    backend, kernels = _rig()
    create = CreateKernels(kernels)
    for spec in (_spec("batch", "sleep 1; exit 0"), _spec("notebook")):
        backend.release.setdefault(spec.kernel_id, asyncio.Event()).set()
        await create([spec])
    draining = asyncio.create_task(Drain(kernels, FakeRegistry(), "agent-1", deadline=5.0)())
    await asyncio.sleep(0.05)
    assert not draining.done()  # the batch kernel is still running its command
    await kernels.mark_ended("batch")  # its command ended (the exit watcher reports it)
    assert await draining is True  # the interactive kernel did not hold the agent up


async def test_drain_gives_up_on_starts_after_its_deadline_and_survives_a_registry_outage() -> None:
    backend, kernels = _rig()
    registry = FakeRegistry()
    registry.down = True
    in_flight = asyncio.create_task(CreateKernels(kernels)([_spec("k1")]))
    await eventually(lambda: backend.began == ["k1"])
    assert await Drain(kernels, registry, "agent-1", deadline=0.05)() is False
    assert registry.refused == 1
    backend.release["k1"].set()
    await in_flight


async def test_health_reports_every_failed_check_and_recovers() -> None:
    problems: list[str | None] = ["cgroup parent /sys/fs/cgroup/cpu/shipyard/a is missing"]

    async def backend_check() -> str | None:
        return problems[0]

    async def broken_check() -> str | None:
        raise OSError("disk gone")

    monitor = HealthMonitor([backend_check, broken_check])
    health = await monitor.check_now()
    assert not health.healthy
    assert "cgroup parent" in health.reason and "OSError: disk gone" in health.reason
    monitor = HealthMonitor([backend_check])
    problems[0] = None
    assert await monitor.check_now() == AgentHealth(healthy=True, reason="")


async def test_disk_space_below_the_threshold_is_unhealthy(tmp_path: Path) -> None:
    assert await disk_space_check(tmp_path / "not-yet", 1)() is None
    reason = await disk_space_check(tmp_path, 1 << 62)()
    assert reason is not None and "free in" in reason


async def test_every_heartbeat_carries_the_latest_health() -> None:
    registry = FakeRegistry()
    current = [AgentHealth()]
    loop = RegistrationLoop(
        registry,
        INFO,
        live_ids=list,
        destroy=_no_destroy,
        cleanup_reason="x",
        health=lambda: current[0],
        default_interval=0.01,
    )
    task = asyncio.create_task(loop.run())
    try:
        await eventually(lambda: len(registry.healths) >= 1)
        current[0] = AgentHealth(healthy=False, reason="bwrap exited with 1")
        await eventually(lambda: registry.healths[-1] == current[0])
    finally:
        task.cancel()
    assert registry.healths[0] == AgentHealth()


async def _no_destroy(kernel_id: str, session_id: str, reason: str) -> None:
    return None
