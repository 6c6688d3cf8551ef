"""What the container backend's tests share: an engine with the test images, a backend per test
(its own agent id and kernel directory), kernel specs and the containers an agent owns."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import aiodocker
import pytest

from services.agent.adapters.container_backend import ContainerBackend
from services.agent.adapters.container_config import LABEL_AGENT, Isolation
from services.agent.adapters.container_engine import Engine
from services.agent.domain import model as m
from tests.container_engine import PYTHON_IMAGE, engine_url, ensure_test_images

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
