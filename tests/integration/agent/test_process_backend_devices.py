"""ProcessBackend exposes a kernel's granted device nodes and hides every other managed one."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import FailedPrecondition
from services.agent.adapters.cuda_accelerator import CudaAcceleratorPlugin
from services.agent.adapters.device_mask import bwrap_device_args
from services.agent.adapters.mock_accelerator import MockAcceleratorPlugin
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.devices import DevicePool
from services.agent.domain.model import ExecMode, KernelSpec, KernelStartFailed
from tests.integration.agent.test_process_backend import spec, unshare_works

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not unshare_works(), reason="needs mount namespaces (unshare)"),
]

CONFIG = """
shared_nodes = ["mock-ctl"]
[[devices]]
id = "m0"
nodes = ["mock0"]
[[devices]]
id = "m1"
nodes = ["mock1"]
"""


@pytest.fixture
def pool(tmp_path: Path) -> DevicePool:
    config = tmp_path / "mock.toml"
    config.write_text(CONFIG)
    pool = MockAcceleratorPlugin(config, tmp_path / "devices").detect()
    # Something in the node directory that is not a managed node must stay usable.
    (tmp_path / "devices" / "README").write_text("not a device")
    (tmp_path / "devices" / "sub").mkdir()
    (tmp_path / "devices" / "sub" / "inner").write_text("inner")
    return pool


@pytest.fixture
async def backend(tmp_path: Path, pool: DevicePool) -> AsyncIterator[ProcessBackend]:
    root = tmp_path / "kernels"
    root.mkdir()
    backend = ProcessBackend(root, grace=2.0, managed_devices=pool.nodes())
    yield backend
    await backend.close()


def granted(pool: DevicePool, kernel_id: str, count: int) -> KernelSpec:
    grant = pool.allocate(kernel_id, Decimal(count))
    return replace(spec(kernel_id), devices=grant.devices, environ=dict(grant.environ))


PROBE = """
import json, os
d = {dir!r}
entries = sorted(os.listdir(d))
with open(os.path.join(d, "README")) as f:
    readme = f.read()
with open(os.path.join(d, "sub", "inner")) as f:
    inner = f.read()
nodes = [n for n in entries if n.startswith("mock")]
for n in nodes:
    with open(os.path.join(d, n), "wb") as f:
        f.write(b"x")  # the node works, not merely exists
print(json.dumps([entries, os.environ.get("CUDA_VISIBLE_DEVICES"), readme, inner]))
"""


async def probe(backend: ProcessBackend, kernel_id: str, node_dir: Path) -> list[object]:
    got = await backend.execute(kernel_id, ExecMode.QUERY, PROBE.format(dir=str(node_dir)), 30)
    assert got.stderr == "", got.stderr
    result: list[object] = json.loads(got.stdout)
    return result


async def test_each_kernel_sees_only_its_own_device(
    backend: ProcessBackend, pool: DevicePool, tmp_path: Path
) -> None:
    node_dir = tmp_path / "devices"
    a, b, none = (f"k-{uuid.uuid4().hex[:10]}" for _ in range(3))
    await backend.create(granted(pool, a, 1))
    await backend.create(granted(pool, b, 1))
    await backend.create(spec(none))

    assert await probe(backend, a, node_dir) == [
        ["README", "mock-ctl", "mock0", "sub"],
        "m0",
        "not a device",
        "inner",
    ]
    assert await probe(backend, b, node_dir) == [
        ["README", "mock-ctl", "mock1", "sub"],
        "m1",
        "not a device",
        "inner",
    ]
    assert await probe(backend, none, node_dir) == [
        ["README", "sub"],
        None,
        "not a device",
        "inner",
    ]
    # The host's view is untouched: the masks live in the kernels' mount namespaces.
    assert sorted(p.name for p in node_dir.iterdir()) == [
        "README",
        "mock-ctl",
        "mock0",
        "mock1",
        "sub",
    ]


async def test_a_kernel_holding_every_device_needs_no_mask(
    backend: ProcessBackend, pool: DevicePool, tmp_path: Path
) -> None:
    kid = f"k-{uuid.uuid4().hex[:10]}"
    await backend.create(granted(pool, kid, 2))
    entries, visible, _, _ = await probe(backend, kid, tmp_path / "devices")
    assert entries == ["README", "mock-ctl", "mock0", "mock1", "sub"]
    assert visible == "m0,m1"


async def test_without_namespaces_a_kernel_that_would_see_others_devices_is_refused(
    tmp_path: Path, pool: DevicePool
) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    backend = ProcessBackend(root, use_namespaces=False, grace=2.0, managed_devices=pool.nodes())
    try:
        with pytest.raises(KernelStartFailed, match="mount namespace"):
            await backend.create(spec(f"k-{uuid.uuid4().hex[:10]}"))
    finally:
        await backend.close()


def _gpu_pool() -> DevicePool | None:
    try:
        return CudaAcceleratorPlugin().detect()
    except FailedPrecondition:
        return None


GPU_POOL = _gpu_pool()


@pytest.mark.skipif(
    GPU_POOL is None or not GPU_POOL.devices, reason="no NVIDIA GPU on this machine (NVML)"
)
async def test_on_a_gpu_node_a_kernel_sees_only_its_gpu_in_dev(tmp_path: Path) -> None:
    assert GPU_POOL is not None
    root = tmp_path / "gpu-kernels"
    root.mkdir()
    backend = ProcessBackend(root, grace=2.0, managed_devices=GPU_POOL.nodes())
    code = (
        "import os, re; print(sorted(n for n in os.listdir('/dev') if re.match(r'nvidia\\d+$', n)),"
        " os.environ.get('CUDA_VISIBLE_DEVICES'))"
    )
    try:
        with_gpu, without = (f"k-{uuid.uuid4().hex[:10]}" for _ in range(2))
        await backend.create(granted(GPU_POOL, with_gpu, 1))
        await backend.create(spec(without))
        own = Path(GPU_POOL.devices[0].nodes[0]).name
        first = GPU_POOL.devices[0].device_id
        got = await backend.execute(with_gpu, ExecMode.QUERY, code, 30)
        assert got.stdout.strip() == f"['{own}'] {first}"
        got = await backend.execute(without, ExecMode.QUERY, code, 30)
        assert got.stdout.strip() == "[] None"
    finally:
        await backend.close()


async def test_bubblewrap_sees_only_the_granted_nodes(pool: DevicePool, tmp_path: Path) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    grant = pool.allocate("k-bwrap", Decimal(1))
    node_dir = tmp_path / "devices"
    cmd = [
        "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", str(node_dir),
        *bwrap_device_args(grant.devices),
        "sh", "-c", f'ls -A {node_dir}; ls /dev | grep -c "^null$"',
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().split() == ["mock-ctl", "mock0", "1"]
