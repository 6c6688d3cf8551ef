"""ProcessBackend against the real OS: bubblewrap sandbox, cgroups and teardown on this machine.
What a kernel may see and do inside its sandbox: test_process_sandbox.py."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import InvalidArgument
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.model import (
    ExecMode,
    ExecStatus,
    KernelNotFound,
    KernelStartFailed,
    Mount,
)
from services.agent.service.ports import KernelBackend
from tests.integration.agent.process_kernels import (
    MIB,
    alive,
    exists,
    gone,
    kernel_pids,
    names,
    query,
    read,
    spec,
    v1_cgroup,
)
from tests.integration.agent.process_kernels import backend as backend  # fixtures
from tests.integration.agent.process_kernels import base_dir as base_dir
from tests.integration.agent.process_kernels import kid as kid
from tests.integration.agent.process_kernels import vfolder as vfolder


async def test_runs_code_in_a_new_kernel(backend: ProcessBackend, kid: str) -> None:
    port: KernelBackend = backend  # mypy checks that the backend fits the port
    assert port.name == "process"
    handle = await backend.create(spec(kid))
    assert backend.list() == [handle]
    got = await query(backend, kid, "print(6*7)")
    assert (got.status, got.stdout) == (ExecStatus.FINISHED, "42\n")


async def test_kernel_environment(
    backend: ProcessBackend, kid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SECRET", "do-not-leak")
    handle = await backend.create(spec(kid, environ={"GREETING": "hello"}))
    code = "import os\nprint(os.getcwd(), os.environ['HOME'], os.environ['GREETING'])\n"
    code += "print(os.environ.get('AGENT_SECRET'))"
    got = await query(backend, kid, code)
    assert got.stdout == f"{handle.workdir} {handle.workdir} hello\nNone\n"


async def test_memory_limit_is_enforced(backend: ProcessBackend, kid: str) -> None:
    handle = await backend.create(spec(kid, mem_bytes=128 * MIB))
    if (group := v1_cgroup(handle.pid, "memory", kid)) is not None:
        assert read(group / "memory.limit_in_bytes") == str(128 * MIB)
    # b"x" * n really touches the pages, unlike a lazily mapped bytearray.
    got = await query(backend, kid, "blob = b'x' * (512 << 20)")
    assert got.status == ExecStatus.FAILED
    assert got.error_name in ("OutOfMemory", "MemoryError")


async def test_cpu_quota_is_set(backend: ProcessBackend, kid: str) -> None:
    handle = await backend.create(spec(kid, cpu=Decimal("0.5")))
    group = v1_cgroup(handle.pid, "cpu", kid)
    if group is None:
        pytest.skip("no writable cgroup v1 cpu controller here")
    period = int(read(group / "cpu.cfs_period_us"))
    assert int(read(group / "cpu.cfs_quota_us")) == period // 2


async def test_kernel_has_its_own_pid_namespace(backend: ProcessBackend, kid: str) -> None:
    await backend.create(spec(kid))
    # The runner is PID 2 under a tiny init (PID 1) that reaps orphans.
    got = await query(backend, kid, "import os; print(os.getpid(), os.getppid())")
    assert got.stdout == "2 1\n"
    got = await backend.execute(kid, ExecMode.BATCH, "ls /proc | grep -c '^[0-9]'", 30)
    assert int(got.stdout) < 10  # init, runner, sh, ls, grep: not the host's processes


async def test_destroy_removes_processes_cgroups_and_files(
    backend: ProcessBackend, kid: str, base_dir: Path
) -> None:
    handle = await backend.create(spec(kid))
    # A process that leaves the process group: the namespace or the cgroup must still catch it.
    code = "import subprocess\np = subprocess.Popen(['sleep', '300'], start_new_session=True)"
    await query(backend, kid, code)
    pids = kernel_pids(handle.pid)
    assert len(pids) >= 3
    group = v1_cgroup(handle.pid, "memory", kid)
    await backend.destroy(kid, "user-requested")
    ended = await backend.wait_exit()
    assert (ended.kernel_id, ended.session_id, ended.reason) == (kid, "s-1", "user-requested")
    assert await gone(pids) == []
    assert not exists(base_dir / kid)
    assert group is None or not exists(group)
    assert backend.list() == []
    await backend.destroy(kid, "user-requested")  # idempotent
    with pytest.raises(KernelNotFound):
        await query(backend, kid, "print(1)")


async def test_a_kernel_that_exits_by_itself_is_reported(
    backend: ProcessBackend, kid: str, base_dir: Path
) -> None:
    handle = await backend.create(spec(kid))
    got = await query(backend, kid, "import os; os._exit(3)")
    assert (got.status, got.exit_code, got.error_name) == (ExecStatus.FAILED, 3, "KernelExited")
    ended = await backend.wait_exit()
    assert (ended.kernel_id, ended.exit_code, ended.reason) == (kid, 3, "self-terminated")
    assert await gone([handle.pid]) == []
    assert not exists(base_dir / kid)
    assert backend.list() == []


async def test_a_batch_kernel_ends_with_its_startup_command(
    backend: ProcessBackend, kid: str
) -> None:
    await backend.create(spec(kid, startup_command='test -d "$HOME" && exit 4'))
    ended = await backend.wait_exit()
    assert (ended.kernel_id, ended.exit_code, ended.reason) == (kid, 4, "task-finished")


async def test_vfolders_are_visible_and_survive_the_kernel(
    backend: ProcessBackend, kid: str, vfolder: Path
) -> None:
    await backend.create(spec(kid, mounts=(Mount(host_path=str(vfolder), name="data"),)))
    code = "print(open('data/hello.txt').read())\nopen('data/new.txt', 'w').write('x')"
    got = await query(backend, kid, code)
    assert got.stdout == "hi from the host\n"
    await backend.destroy(kid, "user-requested")
    assert names(vfolder) == ["hello.txt", "new.txt"]


async def test_close_destroys_every_kernel(base_dir: Path, kid: str) -> None:
    backend = ProcessBackend(base_dir, grace=2.0)
    ids = [f"{kid}-a", f"{kid}-b"]
    handles = [await backend.create(spec(kernel_id)) for kernel_id in ids]
    pids = [pid for handle in handles for pid in kernel_pids(handle.pid)]
    await backend.close()
    ends = [await backend.wait_exit(), await backend.wait_exit()]
    assert sorted((e.kernel_id, e.reason) for e in ends) == [
        (ids[0], "agent-shutdown"),
        (ids[1], "agent-shutdown"),
    ]
    assert await gone(pids) == []
    assert names(base_dir) == []
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("kernel-")] == []


async def test_a_runner_that_cannot_start_fails_create(base_dir: Path, kid: str) -> None:
    backend = ProcessBackend(base_dir, python="/nonexistent/python3", start_timeout=5)
    try:
        with pytest.raises(KernelStartFailed):
            await backend.create(spec(kid))
        assert backend.list() == []
        assert names(base_dir) == []
    finally:
        await backend.close()


@pytest.mark.parametrize("kernel_id", ["../escape", "", "a/b"])
async def test_unsafe_kernel_ids_are_rejected(backend: ProcessBackend, kernel_id: str) -> None:
    with pytest.raises(InvalidArgument):
        await backend.create(spec(kernel_id))


async def test_a_restarted_agent_ends_kernels_its_previous_run_left(
    backend: ProcessBackend, base_dir: Path, kid: str
) -> None:
    handle = await backend.create(spec(kid))
    pids = kernel_pids(handle.pid)
    # A new backend on the same directory stands for the agent after a crash.
    restarted = ProcessBackend(base_dir, grace=2.0)
    assert await restarted.reap_leftovers() == [kid]
    async with asyncio.timeout(10):
        while alive(pids):  # noqa: ASYNC110 - an OS process offers no event to await
            await asyncio.sleep(0.05)
    assert not (base_dir / kid).exists()
    assert await restarted.reap_leftovers() == []
    await restarted.close()


AGENT = """
import asyncio, sys
from decimal import Decimal
from pathlib import Path
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.model import KernelSpec

async def main() -> None:
    backend = ProcessBackend(Path(sys.argv[1]))
    spec = KernelSpec(kernel_id=sys.argv[2], session_id="s-1", image="python",
                      cpu=Decimal(1), mem_bytes=128 << 20)
    handle = await backend.create(spec)
    print(handle.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_kernels_end_with_an_agent_that_is_killed(base_dir: Path, kid: str) -> None:
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT, str(base_dir), kid, stdout=asyncio.subprocess.PIPE
    )
    assert agent.stdout is not None
    try:
        pids = kernel_pids(int(await asyncio.wait_for(agent.stdout.readline(), 30)))
        assert len(pids) >= 3  # bwrap, its init, the runner
    finally:
        agent.kill()  # SIGKILL: no cleanup code of the agent runs
        await agent.wait()
    assert await gone(pids) == []
