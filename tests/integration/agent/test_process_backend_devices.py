"""The sandboxed process backend shows a kernel its granted device nodes and no other."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from libs.core.errors import FailedPrecondition
from services.agent.adapters.cuda_accelerator import CudaAcceleratorPlugin
from services.agent.adapters.mock_accelerator import MockAcceleratorPlugin
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.devices import DevicePool
from services.agent.domain.model import ExecMode, KernelSpec
from tests.integration.agent.process_kernels import spec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
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
def node_dir() -> Iterator[Path]:
    # Private to root, as an agent's state directory may be: the kernel's uid reaches the
    # nodes only through the binds the agent stages for it.
    base = Path(tempfile.mkdtemp(prefix="shipyard-devices-"))
    base.chmod(0o700)
    yield base / "devices"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pool(tmp_path: Path, node_dir: Path) -> DevicePool:
    config = tmp_path / "mock.toml"
    config.write_text(CONFIG)
    return MockAcceleratorPlugin(config, node_dir).detect()


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[ProcessBackend]:
    root = tmp_path / "kernels"
    root.mkdir()
    backend = ProcessBackend(root, grace=2.0)
    yield backend
    await backend.close()


def granted(pool: DevicePool, kernel_id: str, count: int) -> KernelSpec:
    grant = pool.allocate(kernel_id, Decimal(count))
    return replace(spec(kernel_id), devices=grant.devices, environ=dict(grant.environ))


PROBE = """
import json, os
d = {dir!r}
entries = sorted(os.listdir(d)) if os.path.isdir(d) else []
for n in entries:
    with open(os.path.join(d, n), "wb") as f:
        f.write(b"x")  # the node works, not merely exists
print(json.dumps([entries, os.environ.get("CUDA_VISIBLE_DEVICES")]))
"""


async def probe(backend: ProcessBackend, kernel_id: str, node_dir: Path) -> list[object]:
    got = await backend.execute(kernel_id, ExecMode.QUERY, PROBE.format(dir=str(node_dir)), 30)
    assert got.stderr == "", got.stderr
    result: list[object] = json.loads(got.stdout)
    return result


async def test_each_kernel_sees_only_its_own_device(
    backend: ProcessBackend, pool: DevicePool, node_dir: Path
) -> None:
    a, b, none = (f"k-{uuid.uuid4().hex[:10]}" for _ in range(3))
    await backend.create(granted(pool, a, 1))
    await backend.create(granted(pool, b, 1))
    await backend.create(spec(none))

    assert await probe(backend, a, node_dir) == [["mock-ctl", "mock0"], "m0"]
    assert await probe(backend, b, node_dir) == [["mock-ctl", "mock1"], "m1"]
    assert await probe(backend, none, node_dir) == [[], None]
    # The host's view is untouched.
    assert sorted(p.name for p in node_dir.iterdir()) == ["mock-ctl", "mock0", "mock1"]


async def test_a_kernel_holding_every_device_sees_them_all(
    backend: ProcessBackend, pool: DevicePool, node_dir: Path
) -> None:
    kid = f"k-{uuid.uuid4().hex[:10]}"
    await backend.create(granted(pool, kid, 2))
    entries, visible = await probe(backend, kid, node_dir)
    assert entries == ["mock-ctl", "mock0", "mock1"]
    assert visible == "m0,m1"


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
    backend = ProcessBackend(root, grace=2.0)
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
