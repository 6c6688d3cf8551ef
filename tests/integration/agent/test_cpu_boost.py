"""A poolable kernel's start runs without its session's CPU quota until its Jupyter kernel is
ready, and no request that can run session code reaches it before the quota is in place
(cpu_boost.py; docs/kernel-isolation.md, the cgroups row)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from services.agent.adapters.process_backend import ProcessBackend
from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.model import KernelHandle
from tests.integration.agent.process_kernels import base_dir as base_dir  # fixtures
from tests.integration.agent.process_kernels import kernel_pids, query, read, spec, v1_cgroup
from tests.integration.agent.process_kernels import kid as kid

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/jupyter/kernels/python3/kernel.json").exists(),
    reason="python3-ipykernel is not installed (scripts/system-packages installs it)",
)
HALF = Decimal("0.5")


@pytest.fixture
def jupyter_never_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent never hears that a kernel's start is over (a Jupyter kernel that hangs)."""

    async def never(_client: RunnerClient) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(RunnerClient, "wait_started", never)


@pytest.fixture
async def backends(base_dir: Path) -> AsyncIterator[list[ProcessBackend]]:
    made: list[ProcessBackend] = []
    yield made
    for backend in made:
        await backend.close()


def boosted(made: list[ProcessBackend], base_dir: Path, limit: float) -> ProcessBackend:
    backend = ProcessBackend(base_dir, grace=2.0, jupyter=True, boost_limit=limit)
    made.append(backend)
    return backend


def cpu_group(handle: KernelHandle) -> Path:
    group = v1_cgroup(handle.pid, "cpu", handle.kernel_id)
    if group is None:
        pytest.skip("no writable cgroup v1 cpu controller here")
    return group


def quota_is_set(group: Path) -> bool:
    """The kernel's quota is the session's half a CPU (-1 is none)."""
    quota = int(read(group / "cpu.cfs_quota_us"))
    assert quota in (-1, int(read(group / "cpu.cfs_period_us")) // 2)
    return quota != -1


async def until_quota(group: Path, within: float) -> None:
    async with asyncio.timeout(within):
        while not quota_is_set(group):  # noqa: ASYNC110 - a cgroup file offers no event
            await asyncio.sleep(0.02)


async def test_the_quota_comes_once_the_jupyter_kernel_is_ready(
    backends: list[ProcessBackend], base_dir: Path, kid: str
) -> None:
    backend = boosted(backends, base_dir, limit=600.0)  # only readiness can end this boost
    handle = await backend.create(spec(kid, cpu=HALF))
    group = cpu_group(handle)
    assert not quota_is_set(group)  # its Jupyter kernel is starting, unthrottled
    assert read(group / "cpu.shares") == "2"  # on spare CPU only, while it starts
    await until_quota(group, within=60)
    assert read(group / "cpu.shares") == "1024"  # a session's weight from then on
    got = await query(backend, kid, "import sys\nprint('ipykernel' in sys.modules)")
    assert got.stdout == "True\n"


async def test_a_cell_never_runs_before_the_quota(
    backends: list[ProcessBackend], base_dir: Path, kid: str, jupyter_never_ready: None
) -> None:
    # The bound outlasts the Jupyter kernel's start here: the cell would run before it ends.
    backend = boosted(backends, base_dir, limit=8.0)
    handle = await backend.create(spec(kid, cpu=HALF))
    group = cpu_group(handle)
    assert not quota_is_set(group)
    cell = asyncio.create_task(
        query(backend, kid, "import subprocess\nsubprocess.run(['sleep', '2'])\nprint('ran')")
    )
    async with asyncio.timeout(60):
        while not any(_named(pid, "sleep") for pid in kernel_pids(handle.pid)):
            assert not cell.done(), cell.result()
            await asyncio.sleep(0.02)
    assert quota_is_set(group)  # the cell's own code is running: under the session's quota
    assert (await cell).stdout == "ran\n"


async def test_a_terminal_ends_the_boost_at_once(
    backends: list[ProcessBackend], base_dir: Path, kid: str, jupyter_never_ready: None
) -> None:
    backend = boosted(backends, base_dir, limit=600.0)
    handle = await backend.create(spec(kid, cpu=HALF))
    group = cpu_group(handle)
    assert not quota_is_set(group)
    terminal = await backend.open_terminal(kid, 24, 80)
    try:
        assert quota_is_set(group)
    finally:
        await terminal.close()


async def test_a_start_never_heard_to_end_gets_its_quota_after_the_bound(
    backends: list[ProcessBackend], base_dir: Path, kid: str, jupyter_never_ready: None
) -> None:
    backend = boosted(backends, base_dir, limit=1.0)
    handle = await backend.create(spec(kid, cpu=HALF))
    group = cpu_group(handle)
    assert not quota_is_set(group)
    await until_quota(group, within=30)


@pytest.mark.parametrize(
    "environ",
    [{"LANG": "C.UTF-8"}, {"PYTHONSTARTUP": "/home/work/startup.py"}],
    ids=["read-at-interpreter-start", "read-by-ipython"],
)
async def test_a_start_that_could_run_session_code_has_the_quota_at_once(
    backends: list[ProcessBackend],
    base_dir: Path,
    kid: str,
    jupyter_never_ready: None,
    environ: dict[str, str],
) -> None:
    backend = boosted(backends, base_dir, limit=600.0)
    handle = await backend.create(spec(kid, cpu=HALF, environ=environ))
    assert quota_is_set(cpu_group(handle))


def _named(pid: int, name: str) -> bool:
    try:
        return psutil.Process(pid).name() == name
    except psutil.Error:
        return False
