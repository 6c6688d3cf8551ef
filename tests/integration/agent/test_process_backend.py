"""ProcessBackend against the real OS: bubblewrap sandbox, cgroups and teardown on this machine."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from libs.core.errors import InvalidArgument
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.adapters.sandbox import SandboxSettings
from services.agent.domain.model import (
    ExecMode,
    ExecResult,
    ExecStatus,
    KernelNotFound,
    KernelSpec,
    KernelStartFailed,
    Mount,
)
from services.agent.service.ports import KernelBackend

MIB = 1 << 20


def spec(
    kernel_id: str,
    *,
    cpu: Decimal = Decimal(1),
    mem_bytes: int = 256 * MIB,
    mounts: tuple[Mount, ...] = (),
    environ: dict[str, str] | None = None,
    startup_command: str = "",
) -> KernelSpec:
    return KernelSpec(
        kernel_id=kernel_id,
        session_id="s-1",
        image="python",
        cpu=cpu,
        mem_bytes=mem_bytes,
        mounts=mounts,
        environ=environ or {},
        startup_command=startup_command,
    )


def alive(pids: list[int]) -> list[int]:
    """Pids that still exist, zombies included: a zombie is a leak too."""
    return [pid for pid in pids if psutil.pid_exists(pid)]


async def gone(pids: list[int]) -> list[int]:
    """Wait (a bounded time) until `pids` are gone: the sandbox's init is reaped by the host's
    init once its parent, bwrap, has exited; returns those still alive."""
    async with asyncio.timeout(10):
        while alive(pids):  # noqa: ASYNC110 - an OS process offers no event to await
            await asyncio.sleep(0.05)
    return alive(pids)


def kernel_pids(root_pid: int) -> list[int]:
    return [root_pid, *(p.pid for p in psutil.Process(root_pid).children(recursive=True))]


def v1_cgroup(pid: int, controller: str, kernel_id: str) -> Path | None:
    """The kernel's own cgroup v1 directory for `controller`, if the backend made one."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        group = Path("/sys/fs/cgroup", controller, path.lstrip("/"))
        if controller in names.split(",") and group.name == kernel_id and group.is_dir():
            return group
    return None


def names(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def exists(path: Path) -> bool:
    return path.exists()


def read(path: Path) -> str:
    return path.read_text().strip()


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    # Deep on purpose: runner sockets must not depend on the length of this path.
    path = tmp_path / ("deep-" * 12) / "kernels"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def vfolder(tmp_path: Path) -> Path:
    path = tmp_path / "vfolder"
    path.mkdir()
    (path / "hello.txt").write_text("hi from the host")
    return path


@pytest.fixture
def kid() -> str:
    # Unique: cgroups are named after kernels, and other test runs may share this machine.
    return f"k-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def backend(base_dir: Path) -> AsyncIterator[ProcessBackend]:
    backend = ProcessBackend(base_dir, grace=2.0)
    yield backend
    await backend.close()


async def query(backend: ProcessBackend, kernel_id: str, code: str) -> ExecResult:
    return await backend.execute(kernel_id, ExecMode.QUERY, code, 30)


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


async def test_kernel_code_runs_unprivileged_and_sees_no_host(
    backend: ProcessBackend, kid: str, base_dir: Path
) -> None:
    await backend.create(spec(kid))
    code = "import json, os\nprint(os.getuid(), os.getgid())\nprint(json.dumps(os.listdir('/')))\n"
    code += "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])"
    got = await query(backend, kid, code)
    uid = SandboxSettings().uid
    ids, top, caps = got.stdout.splitlines()
    assert (ids, caps) == (f"{uid} {uid}", "0000000000000000")  # no capabilities at all
    # Only what was bound in: no /root, /var, /sys (cgroupfs), /run or the host's /work.
    allowed = {"bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "opt", "proc"}
    assert {"home", "tmp", "usr"} <= set(json.loads(top)) <= allowed | {"sbin", "tmp", "usr"}
    got = await query(backend, kid, f"open({str(base_dir)!r} + '/x', 'w')")
    assert got.error_name == "FileNotFoundError"  # the agent's directories are not there at all


async def test_a_fork_bomb_ends_at_the_pids_limit(base_dir: Path, kid: str) -> None:
    backend = ProcessBackend(base_dir, pids_max=40, grace=2.0)
    try:
        await backend.create(spec(kid))
        code = "import os, signal\nkids = []\ntry:\n    while True:\n        pid = os.fork()\n"
        code += "        if pid == 0:\n            os.pause()\n        kids.append(pid)\n"
        code += "except OSError as e:\n    print(len(kids) < 40, e.errno)\n"
        code += "for pid in kids:\n    os.kill(pid, signal.SIGKILL)\n    os.waitpid(pid, 0)\n"
        got = await query(backend, kid, code)
        assert got.stdout == "True 11\n"  # EAGAIN: fork refused at the limit
        assert (await query(backend, kid, "print('still here')")).stdout == "still here\n"
    finally:
        await backend.close()


async def test_a_read_only_vfolder_refuses_writes(
    backend: ProcessBackend, kid: str, vfolder: Path
) -> None:
    ro = Mount(host_path=str(vfolder), name="data", read_only=True)
    await backend.create(spec(kid, mounts=(ro,)))
    code = "print(open('data/hello.txt').read())\nopen('data/new.txt', 'w')"
    got = await query(backend, kid, code)
    assert got.stdout == "hi from the host\n"
    assert "Read-only file system" in got.error_message
    assert names(vfolder) == ["hello.txt"]


async def test_work_dir_and_tmp_are_bounded(base_dir: Path, kid: str) -> None:
    sandbox = SandboxSettings(workdir_bytes=4 * MIB, tmp_bytes=2 * MIB)
    backend = ProcessBackend(base_dir, sandbox=sandbox, grace=2.0)
    try:
        await backend.create(spec(kid))
        for path in ("/home/work/big", "/tmp/big"):
            got = await query(backend, kid, f"open({path!r}, 'wb').write(b'x' * (8 << 20))")
            assert "No space left on device" in got.error_message, path
    finally:
        await backend.close()


async def test_runner_log_stays_bounded(base_dir: Path, kid: str) -> None:
    backend = ProcessBackend(base_dir, log_bytes=256 << 10, grace=2.0)
    try:
        await backend.create(spec(kid))
        code = "import os\nfor _ in range(64):\n    os.write(2, b'y' * 65536)\nprint('done')"
        assert (await query(backend, kid, code)).stdout == "done\n"
        logs = list((base_dir / kid).glob("runner.log*"))
        assert sum(p.stat().st_size for p in logs) <= 256 << 10
    finally:
        await backend.close()


@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONHOME"])
async def test_loader_variables_are_refused(backend: ProcessBackend, kid: str, name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        await backend.create(spec(kid, environ={name: "/tmp/x"}))
    assert [v.field for v in err.value.violations] == [f"environ[{name}]"]


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
