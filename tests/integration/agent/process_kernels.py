"""What the process backend's tests share: kernel specs, a backend on a deep base directory,
and ways to look at the kernels' processes, cgroups and files from the host."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.model import (
    ExecMode,
    ExecResult,
    KernelSpec,
    Mount,
)

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
