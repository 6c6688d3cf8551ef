"""A container kernel's usage, from the engine's stats (Podman's Docker API here)."""

from __future__ import annotations

import pytest

from services.agent.adapters.container_backend import ContainerBackend
from services.agent.domain import model as m
from tests.integration.agent.container_kernels import (  # noqa: F401 - fixtures
    agent_id,
    kernel_root,
    spec,
    url,
)
from tests.integration.agent.container_kernels import backend as backend

pytestmark = pytest.mark.integration


async def test_a_container_kernels_cpu_and_memory_are_measured(backend: ContainerBackend) -> None:
    s = spec()
    await backend.create(s)
    work = "block = bytearray(32 << 20)\ntotal = sum(i * i for i in range(2_000_000))"
    result = await backend.execute(s.kernel_id, m.ExecMode.QUERY, work, 60)
    assert result.status is m.ExecStatus.FINISHED, result

    [usage] = await backend.kernel_stats()

    assert usage.kernel_id == s.kernel_id
    assert usage.cpu_seconds > 0.1
    assert usage.mem_bytes >= 32 << 20
