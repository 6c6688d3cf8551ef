"""Agents on one host each own their cgroup parent (rule R-OWN-STATE), on this machine's cgroups."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from services.agent.adapters.cgroups import CGROUP_PARENT, probe_cgroups, remove_parents
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.model import ExecMode, ExecStatus, KernelSpec

pytestmark = pytest.mark.integration


def _spec(kernel_id: str) -> KernelSpec:
    return KernelSpec(
        kernel_id=kernel_id,
        session_id="s-1",
        image="python",
        cpu=Decimal(1),
        mem_bytes=256 << 20,
        mounts=(),
        environ={},
        startup_command="",
    )


def _kid() -> str:
    return f"k-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def owners() -> tuple[str, str]:
    token = uuid.uuid4().hex[:8]
    return f"agent-a-{token}", f"agent-b-{token}"


@pytest.fixture
async def pair(
    tmp_path: Path, owners: tuple[str, str]
) -> AsyncIterator[tuple[ProcessBackend, ProcessBackend]]:
    probed = probe_cgroups(owners[0])
    if probed is None:
        pytest.skip("no writable cgroups on this machine")
    remove_parents(probed)
    a = ProcessBackend(tmp_path / "a", grace=2.0, cgroup_owner=owners[0])
    b = ProcessBackend(tmp_path / "b", grace=2.0, cgroup_owner=owners[1])
    yield a, b
    await a.close()
    await b.close()


async def _runs(backend: ProcessBackend, kernel_id: str) -> None:
    await backend.create(_spec(kernel_id))
    got = await backend.execute(kernel_id, ExecMode.QUERY, "print(6*7)", 30)
    assert (got.status, got.stdout) == (ExecStatus.FINISHED, "42\n")
    await backend.destroy(kernel_id, "user-requested")


async def test_each_agent_has_its_own_parent_below_the_shared_level(
    pair: tuple[ProcessBackend, ProcessBackend], owners: tuple[str, str]
) -> None:
    a, b = pair
    await _runs(a, _kid())
    await _runs(b, _kid())
    layout_a, layout_b = probe_cgroups(owners[0]), probe_cgroups(owners[1])
    assert layout_a is not None and layout_b is not None
    for parent_a, parent_b in zip(layout_a.parents, layout_b.parents, strict=True):
        assert parent_a.parent == parent_b.parent and parent_a.parent.name == CGROUP_PARENT
        assert (parent_a.name, parent_b.name) == owners


async def test_one_agent_stopping_leaves_the_others_able_to_start_kernels(
    pair: tuple[ProcessBackend, ProcessBackend], owners: tuple[str, str]
) -> None:
    a, b = pair
    await _runs(a, _kid())
    await _runs(b, _kid())  # b's groups exist and are empty now, as between two sessions
    await a.close()
    await _runs(b, _kid())
    assert await b.probe() is None


async def test_a_vanished_parent_is_recreated_and_reported_until_then(
    pair: tuple[ProcessBackend, ProcessBackend], owners: tuple[str, str]
) -> None:
    _, b = pair
    await _runs(b, _kid())
    layout = probe_cgroups(owners[1])
    assert layout is not None
    for parent in layout.parents:
        parent.rmdir()  # what another agent's shutdown used to do to the shared parent
    await _runs(b, _kid())  # no "No such file or directory": the parents come back
    assert all(p.is_dir() for p in layout.parents)
    for parent in layout.parents:
        parent.rmdir()
    assert await b.probe() is None  # the probe recreates them too
    assert all(p.is_dir() for p in layout.parents)
