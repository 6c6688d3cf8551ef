"""Fakes of the agent's ports (KernelBackend, EventPublisher, AgentRegistry) for unit tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

from libs.core.errors import Unavailable
from services.agent.domain import model as m
from services.agent.service.outbound import (
    AgentHealth,
    AgentInfo,
    KernelEvent,
    Phase,
    Registration,
)


def spec(kernel_id: str, session_id: str = "s-1", **kw: object) -> m.KernelSpec:
    return m.KernelSpec(
        kernel_id=kernel_id,
        session_id=session_id,
        image="python",
        cpu=Decimal(1),
        mem_bytes=1 << 30,
        **kw,  # type: ignore[arg-type]
    )


class FakeBackend:
    name = "fake"

    def __init__(self) -> None:
        self.running: dict[str, m.KernelHandle] = {}
        self.fail: dict[str, Exception] = {}
        self.create_calls: list[str] = []
        self.created_specs: dict[str, m.KernelSpec] = {}  # as the backend received them
        self.destroy_calls: list[tuple[str, str]] = []
        self.exec_calls: list[tuple[str, m.ExecMode, str, float]] = []
        self.create_gate: asyncio.Event | None = None  # when set: create waits for it
        self.destroy_gate: asyncio.Event | None = None  # when set: destroy waits for it
        self.exit_during_create: dict[str, int] = {}  # kernel id -> exit code
        self.closed = False
        self.problem: str | None = None  # what probe() reports
        self._exits: asyncio.Queue[m.KernelExit] = asyncio.Queue()
        self._next_pid = 1000

    async def create(self, spec: m.KernelSpec) -> m.KernelHandle:
        self.create_calls.append(spec.kernel_id)
        self.created_specs[spec.kernel_id] = spec
        if self.create_gate is not None:
            await self.create_gate.wait()
        if spec.kernel_id in self.fail:
            raise self.fail[spec.kernel_id]
        self._next_pid += 1
        handle = m.KernelHandle(
            kernel_id=spec.kernel_id, session_id=spec.session_id, pid=self._next_pid, workdir="/w"
        )
        self.running[spec.kernel_id] = handle
        if spec.kernel_id in self.exit_during_create:
            self._end(spec.kernel_id, self.exit_during_create[spec.kernel_id], "task-finished")
        return handle

    async def destroy(self, kernel_id: str, reason: str) -> None:
        self.destroy_calls.append((kernel_id, reason))
        if self.destroy_gate is not None:
            await self.destroy_gate.wait()
        self._end(kernel_id, 143, reason)

    async def execute(
        self, kernel_id: str, mode: m.ExecMode, code: str, timeout: float
    ) -> m.ExecResult:
        self.exec_calls.append((kernel_id, mode, code, timeout))
        return m.ExecResult(status=m.ExecStatus.FINISHED, stdout="42\n")

    async def images(self) -> Sequence[str]:
        return ("docker.io/library/python:3.11",)

    async def probe(self) -> str | None:
        return self.problem

    def list(self) -> list[m.KernelHandle]:
        return list(self.running.values())

    async def wait_exit(self) -> m.KernelExit:
        return await self._exits.get()

    async def close(self) -> None:
        self.closed = True
        for kid in list(self.running):
            self._end(kid, 143, m.REASON_AGENT_SHUTDOWN)

    def exit_by_itself(self, kernel_id: str, exit_code: int) -> None:
        self._end(kernel_id, exit_code, m.REASON_SELF_TERMINATED)

    def _end(self, kernel_id: str, exit_code: int, reason: str) -> None:
        handle = self.running.pop(kernel_id, None)
        if handle is not None:
            self._exits.put_nowait(
                m.KernelExit(
                    kernel_id=kernel_id,
                    session_id=handle.session_id,
                    exit_code=exit_code,
                    reason=reason,
                )
            )


class FakePooledBackend(FakeBackend):
    """A backend whose creates of the kernels in `prestarted` take a pre-started kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.prestarted: set[str] = set()

    def hands_out(self, spec: m.KernelSpec) -> bool:
        return spec.kernel_id in self.prestarted


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[KernelEvent] = []
        self.failures_left = 0  # the next N publishes raise Unavailable
        self.delays: dict[Phase, float] = {}  # seconds a publish of that phase takes
        self.together: list[list[Phase]] = []  # the phases of each publish_together

    async def publish(self, event: KernelEvent) -> None:
        await asyncio.sleep(self.delays.get(event.phase, 0.0))
        if self.failures_left > 0:
            self.failures_left -= 1
            raise Unavailable("redis is down")
        self.events.append(event)

    async def publish_together(self, events: Sequence[KernelEvent]) -> None:
        await asyncio.sleep(max(self.delays.get(e.phase, 0.0) for e in events))
        if self.failures_left > 0:
            self.failures_left -= 1
            raise Unavailable("redis is down")
        self.events.extend(events)
        self.together.append([e.phase for e in events])

    def phases(self, kernel_id: str) -> list[Phase]:
        return [e.phase for e in self.events if e.kernel_id == kernel_id]

    def of(self, kernel_id: str, phase: Phase) -> list[KernelEvent]:
        return [e for e in self.events if e.kernel_id == kernel_id and e.phase is phase]


class FakeRegistry:
    def __init__(self) -> None:
        self.down = False
        self.refused = 0  # calls made while down
        self.registrations: list[list[str]] = []
        self.heartbeats: list[list[str]] = []
        self.inventories: list[list[str]] = []  # images reported, per call
        self.to_destroy: tuple[str, ...] = ()
        self.reregister = False
        self.interval = 0.01
        self.healths: list[AgentHealth] = []  # health sent with each heartbeat
        self.drains: list[tuple[str, str]] = []  # (agent id, reason) per DrainAgent call

    async def register(
        self, info: AgentInfo, live_kernel_ids: Sequence[str], images: Sequence[str] = ()
    ) -> Registration:
        if self.down:
            self.refused += 1
            raise Unavailable("registry is down")
        self.registrations.append(list(live_kernel_ids))
        self.inventories.append(list(images))
        to_destroy, self.to_destroy = self.to_destroy, ()
        return Registration(kernels_to_destroy=to_destroy, heartbeat_interval=self.interval)

    async def heartbeat(
        self,
        info: AgentInfo,
        live_kernel_ids: Sequence[str],
        images: Sequence[str] = (),
        health: AgentHealth | None = None,
        stats: Sequence[m.KernelUsage] = (),
    ) -> bool:
        if self.down:
            self.refused += 1
            raise Unavailable("registry is down")
        self.healths.append(health or AgentHealth())
        self.heartbeats.append(list(live_kernel_ids))
        self.inventories.append(list(images))
        reregister, self.reregister = self.reregister, False
        return reregister

    async def drain(self, agent_id: str, reason: str) -> None:
        if self.down:
            self.refused += 1
            raise Unavailable("registry is down")
        self.drains.append((agent_id, reason))


async def eventually(
    check: Callable[[], bool] | Callable[[], Awaitable[bool]], within: float = 5.0
) -> None:
    """Wait until `check()` holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
