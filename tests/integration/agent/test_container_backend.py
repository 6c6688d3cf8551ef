"""The container backend against a real engine (Podman's Docker API here) and the test images."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import aiodocker
import pytest
from pydantic import SecretStr
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.agent.v1 import kernel_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2, resources_pb2

from libs.core.errors import InvalidArgument
from libs.grpcutil.client import internal_channel
from services.agent.adapters.container_backend import ContainerBackend
from services.agent.adapters.container_config import LABEL_AGENT, Isolation
from services.agent.adapters.container_engine import Engine
from services.agent.app import serve
from services.agent.config import Settings
from services.agent.domain import model as m
from tests.conftest import INTERNAL_TOKEN
from tests.container_engine import BUSYBOX_IMAGE, PYTHON_IMAGE, engine_url, ensure_test_images
from tests.integration.agent.fake_registry import FakeAgentRegistry, start_fake_registry
from tests.unit.agent.agent_fakes import eventually

pytestmark = pytest.mark.integration

MEM = 128 << 20
ISOLATION = Isolation(uid=1000, gid=1000, network="bridge", pids_limit=128, shm_bytes=32 << 20)


@pytest.fixture(scope="module")
async def url() -> str:
    found = await engine_url()
    await ensure_test_images()
    return found


@pytest.fixture
def kernel_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="syc-", dir="/tmp") as root:
        yield Path(root)


@pytest.fixture
def agent_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def make_backend(url: str, agent_id: str, root: Path) -> ContainerBackend:
    return ContainerBackend(
        Engine(url), agent_id=agent_id, base_dir=root, isolation=ISOLATION, grace=2.0
    )


@pytest.fixture
async def backend(url: str, agent_id: str, kernel_root: Path) -> AsyncIterator[ContainerBackend]:
    b = make_backend(url, agent_id, kernel_root)
    yield b
    await b.close()


async def owned_containers(url: str, agent_id: str) -> list[str]:
    docker = aiodocker.Docker(url=url)
    try:
        listed = await docker.containers.list(
            all="true", filters=f'{{"label": ["{LABEL_AGENT}={agent_id}"]}}'
        )
        return [c.id for c in listed]
    finally:
        await docker.close()


def spec(
    *,
    image: str = PYTHON_IMAGE,
    mem: int = MEM,
    startup: str = "",
    mounts: tuple[m.Mount, ...] = (),
) -> m.KernelSpec:
    return m.KernelSpec(
        kernel_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        image=image,
        cpu=Decimal("0.5"),
        mem_bytes=mem,
        mounts=mounts,
        startup_command=startup,
        environ={"GREETING": "hello"},
    )


async def query(b: ContainerBackend, kernel_id: str, code: str) -> m.ExecResult:
    return await b.execute(kernel_id, m.ExecMode.QUERY, code, 30)


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


async def test_a_restarted_agent_adopts_running_kernels_and_removes_ended_ones(
    url: str, agent_id: str, kernel_root: Path
) -> None:
    first = make_backend(url, agent_id, kernel_root)
    kept, lost = spec(), spec()
    await first.create(kept)
    await first.create(lost)
    await query(first, kept.kernel_id, "x = 41")
    await first.detach()  # as if the agent process had died
    docker = aiodocker.Docker(url=url)
    try:
        await docker.containers.container(f"shipyard-{lost.kernel_id}").kill(signal="SIGKILL")
    finally:
        await docker.close()

    second = make_backend(url, agent_id, kernel_root)
    try:
        adopted, removed = await second.adopt()
        assert (adopted, removed) == ([kept.kernel_id], [lost.kernel_id])
        assert [h.kernel_id for h in second.list()] == [kept.kernel_id]
        assert (await query(second, kept.kernel_id, "print(x + 1)")).stdout == "42\n"
        assert len(await owned_containers(url, agent_id)) == 1
    finally:
        await second.close()
    assert await owned_containers(url, agent_id) == []
    assert list(kernel_root.iterdir()) == []


async def test_an_agent_restart_keeps_its_kernels_and_reports_them_again(
    url: str, agent_id: str, kernel_root: Path, redis_url: str, key_prefix: str
) -> None:
    registry = FakeAgentRegistry()
    server = await start_fake_registry(registry, INTERNAL_TOKEN)
    settings = Settings(
        internal_token=SecretStr(INTERNAL_TOKEN),
        bind="127.0.0.1:0",
        agent_id=agent_id,
        registry_addr=f"127.0.0.1:{server.port}",
        redis_url=redis_url,
        redis_prefix=key_prefix,
        kernel_root=kernel_root,
        cpu=Decimal(2),
        mem_bytes=2 << 30,
        backend="container",
        docker_host=url,
        keep_kernels_on_stop=True,
    )
    kernel_id = str(uuid.uuid4())
    try:
        first = await serve(settings)
        # Registered before it stops, so that the second start's registration is the second.
        await eventually(lambda: len(registry.registrations) >= 1, within=10)
        async with internal_channel(f"127.0.0.1:{first.port}", INTERNAL_TOKEN) as channel:
            stub = pb_grpc.KernelServiceStub(channel)
            kernel = pb.KernelSpec(
                kernel_id=kernel_id,
                session_id=str(uuid.uuid4()),
                image=PYTHON_IMAGE,
                slots=resources_pb2.ResourceSlots(amounts={"cpu": "1", "mem": str(MEM)}),
            )
            await stub.CreateKernels(pb.CreateKernelsRequest(kernels=[kernel]), timeout=60)
            await stub.Execute(_query(kernel_id, "x = 41"), timeout=30)
        await first.stop()
        assert len(await owned_containers(url, agent_id)) == 1  # still running

        second = await serve(settings)
        try:
            await eventually(lambda: len(registry.registrations) >= 2, within=10)
            assert list(registry.registrations[-1].live_kernel_ids) == [kernel_id]
            async with internal_channel(f"127.0.0.1:{second.port}", INTERNAL_TOKEN) as channel:
                stub = pb_grpc.KernelServiceStub(channel)
                reply = await stub.Execute(_query(kernel_id, "print(x + 1)"), timeout=30)
                assert reply.result.stdout == "42\n"
        finally:
            await second.stop()  # without keep_kernels_on_stop this would end them
    finally:
        await server.stop(grace=0)
        leftover = make_backend(url, agent_id, kernel_root)
        await leftover.adopt()
        await leftover.close()
    assert await owned_containers(url, agent_id) == []


def _query(kernel_id: str, code: str) -> pb.ExecuteRequest:
    return pb.ExecuteRequest(
        kernel_id=kernel_id, mode=execution_pb2.EXECUTION_MODE_QUERY, code=code
    )


async def test_endless_output_is_served_as_its_last_mebibyte(backend: ContainerBackend) -> None:
    s = spec(startup="head -c 3000000 /dev/zero | tr '\\0' x; echo; echo the-end; sleep 60")
    await backend.create(s)

    async def printed() -> bool:
        return (await backend.logs(s.kernel_id)).endswith("the-end\n")

    await eventually(printed, within=20)
    logs = await backend.logs(s.kernel_id)
    assert len(logs) == 1 << 20  # 3 MB were printed; the call still answers, with the end
