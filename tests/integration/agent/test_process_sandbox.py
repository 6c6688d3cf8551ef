"""What a process-backend kernel may see and do inside its sandbox: no privileges, no host
directories, bounded pids, disk and log, read-only mounts, no loader variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from libs.core.errors import InvalidArgument
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.adapters.sandbox import SandboxSettings
from services.agent.domain.model import (
    Mount,
)
from tests.integration.agent.process_kernels import (
    MIB,
    names,
    query,
    spec,
)
from tests.integration.agent.process_kernels import backend as backend  # fixtures
from tests.integration.agent.process_kernels import base_dir as base_dir
from tests.integration.agent.process_kernels import kid as kid
from tests.integration.agent.process_kernels import vfolder as vfolder


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
