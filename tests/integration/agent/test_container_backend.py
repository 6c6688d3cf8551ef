"""The container backend against a real engine (Podman's Docker API here) and the test images."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import InvalidArgument
from services.agent.adapters.container_backend import ContainerBackend
from services.agent.domain import model as m
from tests.container_engine import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.agent.container_kernels import (
    MEM,
    owned_containers,
    query,
    spec,
)
from tests.integration.agent.container_kernels import agent_id as agent_id  # fixtures
from tests.integration.agent.container_kernels import backend as backend
from tests.integration.agent.container_kernels import kernel_root as kernel_root
from tests.integration.agent.container_kernels import url as url
from tests.unit.agent.agent_fakes import eventually

pytestmark = pytest.mark.integration


async def test_kernel_runs_unprivileged_within_its_limits(backend: ContainerBackend) -> None:
    s = spec()
    await backend.create(s)
    r = await query(
        backend,
        s.kernel_id,
        "import os\n"
        "cg = lambda p: open('/sys/fs/cgroup/' + p).read().strip()\n"
        "status = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines()"
        " if ':\\t' in l)\n"
        "print(cg('memory/memory.limit_in_bytes'), cg('cpu/cpu.cfs_quota_us'),"
        " cg('pids/pids.max'))\n"
        "print(os.getuid(), os.getgid(), status['CapEff'].strip(), status['NoNewPrivs'].strip())\n"
        "print(os.getcwd(), os.environ['GREETING'], os.environ['SHIPYARD_KERNEL_ID'])\n",
    )
    assert r.status is m.ExecStatus.FINISHED, r
    limits, ids, where = r.stdout.splitlines()
    assert limits.split() == [str(MEM), "50000", "128"]
    assert ids.split() == ["1000", "1000", "0000000000000000", "1"]
    assert where.split() == ["/home/work", "hello", s.kernel_id]


async def test_query_keeps_state_and_batch_reports_exit_code(backend: ContainerBackend) -> None:
    s = spec()
    await backend.create(s)
    await query(backend, s.kernel_id, "x = 41")
    assert (await query(backend, s.kernel_id, "print(x + 1)")).stdout == "42\n"
    r = await backend.execute(s.kernel_id, m.ExecMode.BATCH, "echo out; echo err >&2; exit 3", 30)
    assert (r.status, r.exit_code, r.stdout, r.stderr) == (m.ExecStatus.FAILED, 3, "out\n", "err\n")


async def test_batch_session_ends_with_its_exit_code_and_keeps_its_logs(
    backend: ContainerBackend,
) -> None:
    s = spec(startup="echo working; echo broken >&2; exit 7")
    await backend.create(s)
    ended = await asyncio.wait_for(backend.wait_exit(), 30)
    assert (ended.kernel_id, ended.exit_code, ended.reason) == (s.kernel_id, 7, "task-finished")
    logs = await backend.logs(s.kernel_id)
    assert "working" in logs and "broken" in logs
    assert await backend.logs(s.kernel_id, tail=1) == logs.splitlines(keepends=True)[-1]


async def test_running_out_of_memory_ends_the_kernel_as_oom_killed(
    backend: ContainerBackend,
) -> None:
    s = spec(mem=64 << 20)
    await backend.create(s)
    r = await query(backend, s.kernel_id, "blob = bytearray(512 << 20)")
    assert (r.status, r.error_name) == (m.ExecStatus.FAILED, "OutOfMemory")
    ended = await asyncio.wait_for(backend.wait_exit(), 30)
    assert (ended.kernel_id, ended.reason) == (s.kernel_id, "oom-killed")


async def test_a_fork_bomb_stops_at_the_pids_limit(backend: ContainerBackend) -> None:
    s = spec()
    await backend.create(s)
    r = await backend.execute(
        s.kernel_id,
        m.ExecMode.BATCH,
        "for i in $(seq 400); do sleep 30 >/dev/null 2>&1 & done; echo all",
        20,
    )
    assert r.status is m.ExecStatus.FAILED and "all" not in r.stdout
    assert "Cannot fork" in r.stderr
    assert (await query(backend, s.kernel_id, "print('alive')")).stdout == "alive\n"


async def test_vfolders_keep_their_permission(backend: ContainerBackend, kernel_root: Path) -> None:
    ro, rw = kernel_root / "vf-ro", kernel_root / "vf-rw"
    for folder in (ro, rw):
        folder.mkdir()
    (ro / "data.txt").write_text("input")
    s = spec(
        mounts=(
            m.Mount(host_path=str(ro), name="inputs", read_only=True),
            m.Mount(host_path=str(rw), name="outputs"),
        )
    )
    await backend.create(s)
    r = await backend.execute(
        s.kernel_id,
        m.ExecMode.BATCH,
        "cat inputs/data.txt; echo changed > inputs/data.txt; echo result > outputs/r.txt",
        30,
    )
    assert r.stdout == "input"
    assert "Read-only file system" in r.stdout + r.stderr
    assert (ro / "data.txt").read_text() == "input"
    assert (rw / "r.txt").read_text() == "result\n"
    assert (rw / "r.txt").stat().st_uid == 1000  # written as the kernel's user, not root


async def test_host_loopback_services_are_unreachable(backend: ContainerBackend) -> None:
    s = spec()
    await backend.create(s)
    r = await query(
        backend,
        s.kernel_id,
        "import socket\n"
        "for port in (5432, 6379):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=2).close()\n"
        "        print(port, 'open')\n"
        "    except OSError:\n"
        "        print(port, 'refused')\n",
    )
    assert r.stdout.split() == ["5432", "refused", "6379", "refused"]


async def test_teardown_leaves_no_container_or_directory(
    url: str, agent_id: str, backend: ContainerBackend, kernel_root: Path
) -> None:
    s = spec()
    handle = await backend.create(s)
    assert len(await owned_containers(url, agent_id)) == 1
    await backend.destroy(s.kernel_id, "user-requested")
    ended = await asyncio.wait_for(backend.wait_exit(), 30)
    assert ended.reason == "user-requested"
    assert await owned_containers(url, agent_id) == []
    assert not Path(handle.workdir).exists() and not (kernel_root / s.kernel_id).exists()
    assert backend.list() == []


async def test_the_node_reports_its_images_as_full_references(
    backend: ContainerBackend,
) -> None:
    images = await backend.images()
    assert {PYTHON_IMAGE, BUSYBOX_IMAGE} <= set(images)
    assert all("/" in ref and ":" in ref.rsplit("/", 1)[1] for ref in images)


async def test_loader_variables_in_environ_are_refused(backend: ContainerBackend) -> None:
    bad = m.KernelSpec(
        kernel_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        image=PYTHON_IMAGE,
        cpu=Decimal(1),
        mem_bytes=MEM,
        environ={"LD_PRELOAD": "/home/work/evil.so", "PATH": "/home/work/bin:/usr/bin"},
    )
    with pytest.raises(InvalidArgument, match="LD_PRELOAD"):
        await backend.create(bad)
    assert backend.list() == []


async def test_an_image_without_a_runtime_path_is_refused_clearly(
    backend: ContainerBackend,
) -> None:
    with pytest.raises(m.KernelStartFailed, match=r"ai\.backend\.runtime-path"):
        await backend.create(spec(image=BUSYBOX_IMAGE))
    with pytest.raises(m.KernelStartFailed, match="cannot pull image"):
        await backend.create(spec(image="localhost/shipyard/no-such-image:1"))


async def test_endless_output_is_served_as_its_last_mebibyte(backend: ContainerBackend) -> None:
    s = spec(startup="head -c 3000000 /dev/zero | tr '\\0' x; echo; echo the-end; sleep 60")
    await backend.create(s)

    async def printed() -> bool:
        return (await backend.logs(s.kernel_id)).endswith("the-end\n")

    await eventually(printed, within=20)
    logs = await backend.logs(s.kernel_id)
    assert len(logs) == 1 << 20  # 3 MB were printed; the call still answers, with the end
