"""Pre-started kernels of the process backend against the real OS: what a session gets from the
pool is its own (environment, ids, limits, names), never shared, never for a sandbox that would
differ, and nothing of the pool outlives the agent (docs/performance.md, "Pre-started kernels")."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from services.agent.adapters.pooled_backend import POOL_PREFIX, PooledProcessBackend
from services.agent.domain.model import Mount
from tests.integration.agent.process_kernels import (
    MIB,
    alive,
    gone,
    kernel_pids,
    query,
    read,
    spec,
    v1_cgroup,
)
from tests.integration.agent.process_kernels import base_dir as base_dir  # fixtures
from tests.integration.agent.process_kernels import kid as kid
from tests.integration.agent.process_kernels import vfolder as vfolder


def pooled_pids() -> list[int]:
    """The runners of this test process's own kernels that wait in a pool (in a pool's cgroups).

    Kernels of agents this test process started (the shared e2e platform's, in a full run) are
    left out: their runners have a Python process (the agent) between them and this one."""
    me = psutil.Process()
    found = []
    for proc in me.children(recursive=True):
        try:
            groups = Path(f"/proc/{proc.pid}/cgroup").read_text()
            if not proc.name().startswith("python") or f"/{POOL_PREFIX}" not in groups:
                continue
            between = proc.parents()[: [p.pid for p in proc.parents()].index(me.pid)]
            if not any(p.name().startswith("python") for p in between):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, OSError, ValueError):
            continue
    return found


def runner_pid(root_pid: int) -> int:
    """The runner (python) below a kernel's sandbox wrapper."""
    procs = [psutil.Process(pid) for pid in kernel_pids(root_pid)]
    return next(p.pid for p in procs if p.name().startswith("python"))


async def filled(backend: PooledProcessBackend, size: int) -> None:
    async with asyncio.timeout(30):
        while backend.pooled() < size:  # noqa: ASYNC110 - the pool fills in the background
            await asyncio.sleep(0.05)


@pytest.fixture
async def pool(base_dir: Path) -> AsyncIterator[PooledProcessBackend]:
    backend = PooledProcessBackend(base_dir, grace=2.0, pool_size=2, jupyter=False)
    if not backend.start_pool():
        pytest.skip("no pre-started kernels on this host (cgroup v1 is needed)")
    await filled(backend, 2)
    yield backend
    await backend.close()


async def test_a_handed_out_kernel_is_the_sessions_own(
    pool: PooledProcessBackend, base_dir: Path, kid: str
) -> None:
    waiting = pooled_pids()
    wanted = spec(kid, cpu=Decimal("0.5"), mem_bytes=128 * MIB, environ={"GREETING": "hello"})
    assert pool.hands_out(wanted)  # what the agent's create asks before it announces anything
    handle = await pool.create(wanted)
    assert runner_pid(handle.pid) in waiting  # it did come from the pool
    assert pool.list() == [handle]
    code = "import os, subprocess\n"
    code += "print(os.environ['GREETING'], os.environ['SHIPYARD_KERNEL_ID'], "
    code += "os.environ['SHIPYARD_SESSION_ID'], os.environ['HOME'])\n"
    code += "print(subprocess.run(['sh', '-c', 'echo $GREETING $SHIPYARD_KERNEL_ID'], "
    code += "capture_output=True, text=True).stdout, end='')"
    got = await query(pool, kid, code)
    assert got.stdout == f"hello {kid} s-1 {handle.workdir}\nhello {kid}\n"
    memory = v1_cgroup(handle.pid, "memory", kid)
    cpu = v1_cgroup(handle.pid, "cpu", kid)
    assert memory is not None and cpu is not None  # re-keyed: named by the real kernel id
    assert read(memory / "memory.limit_in_bytes") == str(128 * MIB)
    if (memory / "memory.memsw.limit_in_bytes").exists():
        assert read(memory / "memory.memsw.limit_in_bytes") == str(128 * MIB)
    assert int(read(cpu / "cpu.cfs_quota_us")) == int(read(cpu / "cpu.cfs_period_us")) // 2
    assert read(cpu / "cpu.shares") == "1024"  # no longer below the sessions' kernels
    assert (base_dir / kid / "runner.log").exists()
    blob = await query(pool, kid, "blob = b'x' * (512 << 20)")
    assert blob.error_name in ("OutOfMemory", "MemoryError")


async def test_concurrent_creates_never_share_a_pool_kernel(pool: PooledProcessBackend) -> None:
    ids = [f"k-pool-{i}-{id(pool) % 10_000}" for i in range(3)]
    handles = await asyncio.gather(*(pool.create(spec(k)) for k in ids))
    assert len({h.pid for h in handles}) == 3
    for kernel_id in ids:
        got = await query(pool, kernel_id, "import os; print(os.environ['SHIPYARD_KERNEL_ID'])")
        assert got.stdout == f"{kernel_id}\n"


async def test_a_kernel_with_mounts_never_gets_one(
    pool: PooledProcessBackend, kid: str, vfolder: Path
) -> None:
    waiting = set(pooled_pids())
    folder = Mount(name="data", host_path=str(vfolder), read_only=True)
    assert not pool.hands_out(spec(kid, mounts=(folder,)))
    handle = await pool.create(spec(kid, mounts=(folder,)))
    assert runner_pid(handle.pid) not in waiting
    assert set(pooled_pids()) == waiting  # the pool kept its kernels
    got = await query(pool, kid, "print(open('/home/work/data/hello.txt').read())")
    assert got.stdout == "hi from the host\n"


async def test_the_pool_refills_after_a_hand_out(pool: PooledProcessBackend, kid: str) -> None:
    before = set(pooled_pids())
    await pool.create(spec(kid))
    await filled(pool, 2)
    after = set(pooled_pids())
    assert len(after) == 2 and after != before


async def test_a_fresh_kernel_has_its_cpu_quota_once_created(base_dir: Path, kid: str) -> None:
    """Without a pool kernel, the start goes on fresh; its runner starts without the quota (as a
    pool kernel's does), which is set before the session gets the kernel."""
    backend = PooledProcessBackend(base_dir, grace=2.0, pool_size=0, jupyter=False)
    try:
        handle = await backend.create(spec(kid, cpu=Decimal("0.5")))
        cpu = v1_cgroup(handle.pid, "cpu", kid)
        if cpu is None:
            pytest.skip("no cgroup v1 cpu controller on this host")
        assert int(read(cpu / "cpu.cfs_quota_us")) == int(read(cpu / "cpu.cfs_period_us")) // 2
        got = await query(backend, kid, "print(sum(range(10)))")
        assert got.stdout == "45\n"
    finally:
        await backend.close()


async def test_stopping_the_agent_leaves_no_kernel_behind(
    pool: PooledProcessBackend, base_dir: Path, kid: str
) -> None:
    handle = await pool.create(spec(kid))
    pids = [*kernel_pids(handle.pid), *pooled_pids()]
    assert len(pooled_pids()) >= 1
    await pool.close()
    assert await gone(pids) == []
    assert list(base_dir.iterdir()) == []


AGENT = """
import asyncio, sys
from pathlib import Path
from services.agent.adapters.pooled_backend import PooledProcessBackend

async def main() -> None:
    backend = PooledProcessBackend(Path(sys.argv[1]), pool_size=2, jupyter=False)
    backend.start_pool()
    while backend.pooled() < 2:
        await asyncio.sleep(0.05)
    print("filled", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_pool_kernels_end_with_a_killed_agent_and_are_reaped_after(base_dir: Path) -> None:
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT, str(base_dir), stdout=asyncio.subprocess.PIPE
    )
    assert agent.stdout is not None
    try:
        async with asyncio.timeout(60):
            assert await agent.stdout.readline() == b"filled\n"
        pids = [p.pid for p in psutil.Process(agent.pid).children(recursive=True)]
        assert len(alive(pids)) >= 2
    finally:
        agent.kill()
        await agent.wait()
    assert await gone(pids) == []  # bwrap --die-with-parent, as for every kernel
    left = sorted(d.name for d in base_dir.iterdir())
    assert len(left) == 2 and all(name.startswith(POOL_PREFIX) for name in left)
    restarted = PooledProcessBackend(base_dir, grace=2.0, pool_size=0)
    assert sorted(await restarted.reap_leftovers()) == left
    await restarted.close()


async def test_the_jupyter_kernel_starts_with_the_sessions_environment(
    base_dir: Path, kid: str
) -> None:
    backend = PooledProcessBackend(base_dir, grace=2.0, pool_size=1, jupyter=True)
    try:
        if not backend.start_pool():
            pytest.skip("no pre-started kernels on this host (cgroup v1 is needed)")
        await filled(backend, 1)
        waiting = pooled_pids()
        handle = await backend.create(spec(kid, environ={"GREETING": "hello"}))
        assert runner_pid(handle.pid) in waiting
        cpu = v1_cgroup(handle.pid, "cpu", kid)
        assert cpu is not None
        # Its Jupyter kernel starts now, without the quota and on spare CPU only ...
        assert (read(cpu / "cpu.cfs_quota_us"), read(cpu / "cpu.shares")) == ("-1", "2")
        code = "import os, sys\nprint('ipykernel' in sys.modules, os.environ['GREETING'], "
        code += "os.environ['SHIPYARD_KERNEL_ID'])"
        got = await query(backend, kid, code)
        assert got.stdout == f"True hello {kid}\n", got
        # ... which is in place, at a session's weight, before a cell runs.
        assert read(cpu / "cpu.cfs_quota_us") == read(cpu / "cpu.cfs_period_us")
        assert read(cpu / "cpu.shares") == "1024"
    finally:
        await backend.close()
