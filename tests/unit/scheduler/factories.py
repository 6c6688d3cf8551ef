"""Builders and fakes for the scheduler's unit tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from libs.core.errors import Unavailable
from libs.core.slots import ResourceSlots
from services.scheduler.domain.limits import Limits
from services.scheduler.domain.model import (
    Agent,
    BindResult,
    PendingKernel,
    PendingSession,
    Placement,
    Unschedulable,
)

GiB = 1024**3
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def slots(cpu: int | str = 0, mem_gib: int | str = 0, **extra: int) -> ResourceSlots:
    amounts: dict[str, int | str] = {"cpu": cpu, "mem": int(float(mem_gib) * GiB), **extra}
    return ResourceSlots(amounts)


def agent(
    agent_id: str = "agent-1",
    *,
    cpu: int = 8,
    mem_gib: int = 32,
    used_cpu: int = 0,
    used_mem_gib: int = 0,
    group: str = "default",
    alive: bool = True,
) -> Agent:
    return Agent(
        agent_id=agent_id,
        alive=alive,
        resource_group=group,
        available=slots(cpu, mem_gib),
        occupied=slots(used_cpu, used_mem_gib),
    )


def session(
    *,
    cpu: int = 1,
    mem_gib: int = 1,
    age: int = 0,
    kernels: int = 1,
    group: str = "default",
    access_key: str = "AKUSER",
    session_id: str | None = None,
    trace_context: dict[str, str] | None = None,
    owner: str = "",
    project: str = "p1",
    domain: str = "default",
) -> PendingSession:
    """`age` is minutes after T0: a larger age is a newer session."""
    return PendingSession(
        session_id=session_id or str(uuid.uuid4()),
        access_key=access_key,
        resource_group=group,
        create_time=T0 + timedelta(minutes=age),
        kernels=tuple(
            PendingKernel(kernel_id=str(uuid.uuid4()), requested=slots(cpu, mem_gib))
            for _ in range(kernels)
        ),
        trace_context=trace_context or {},
        owner_user_id=owner,
        project_id=project,
        domain_name=domain,
    )


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeBinder:
    """Binds everything unless a conflict is scripted for a session; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Placement], list[Unschedulable]]] = []
        self.conflicts: dict[str, str] = {}
        self.fail_with: Exception | None = None

    async def bind(
        self, placements: Sequence[Placement], unschedulable: Sequence[Unschedulable]
    ) -> list[BindResult]:
        self.calls.append((list(placements), list(unschedulable)))
        if self.fail_with is not None:
            raise self.fail_with
        return [
            BindResult(
                session_id=p.session_id,
                bound=p.session_id not in self.conflicts,
                conflict_reason=self.conflicts.pop(p.session_id, ""),
            )
            for p in placements
        ]

    @property
    def placements(self) -> list[Placement]:
        return [p for placements, _ in self.calls for p in placements]

    @property
    def notes(self) -> list[Unschedulable]:
        return [u for _, notes in self.calls for u in notes]


class FakePreempter:
    """Ends every victim asked for, except those in `refuse`; can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []
        self.fail = False
        self.refuse: set[str] = set()

    async def preempt(self, preemptions: Sequence[tuple[str, str]]) -> list[str]:
        if self.fail:
            raise Unavailable("registry down")
        self.calls.append(list(preemptions))
        return [victim for victim, _ in preemptions if victim not in self.refuse]


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Wait for a condition, bounded; never assert on timing."""
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


class FakeLimits:
    """A LimitsSource with fixed answers; counts calls and can be made to fail."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.answer = limits or Limits()
        self.calls: list[tuple[list[str], list[str], list[str]]] = []
        self.fail_with: Exception | None = None

    async def limits(
        self,
        *,
        access_keys: Sequence[str],
        project_ids: Sequence[str],
        domain_names: Sequence[str],
    ) -> Limits:
        self.calls.append((list(access_keys), list(project_ids), list(domain_names)))
        if self.fail_with is not None:
            raise self.fail_with
        return Limits(
            keypairs={k: v for k, v in self.answer.keypairs.items() if k in access_keys},
            projects={k: v for k, v in self.answer.projects.items() if k in project_ids},
            domains={k: v for k, v in self.answer.domains.items() if k in domain_names},
        )
