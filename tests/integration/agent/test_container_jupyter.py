"""Query mode on the Jupyter kernel of a container image, and the fallback of one without."""

from __future__ import annotations

import asyncio
import base64
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from services.agent.adapters.container_backend import ContainerBackend
from services.agent.adapters.container_config import Isolation
from services.agent.adapters.container_engine import Engine
from services.agent.domain import model as m
from tests.container_engine import JUPYTER_IMAGE, PYTHON_IMAGE, engine_url, ensure_test_images

pytestmark = pytest.mark.integration

ISOLATION = Isolation(
    uid=1000, gid=1000, network="none", pids_limit=256, shm_bytes=32 << 20, jupyter=True
)


@pytest.fixture
async def backend() -> AsyncIterator[ContainerBackend]:
    url = await engine_url()
    await ensure_test_images()
    with tempfile.TemporaryDirectory(prefix="syj-", dir="/tmp") as root:
        agent_id = f"test-{uuid.uuid4().hex[:8]}"
        b = ContainerBackend(
            Engine(url), agent_id=agent_id, base_dir=Path(root), isolation=ISOLATION, grace=2.0
        )
        yield b
        await b.close()


@pytest.fixture
def spec() -> Iterator[m.KernelSpec]:
    yield m.KernelSpec(
        kernel_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        image=JUPYTER_IMAGE,
        cpu=Decimal(1),
        mem_bytes=768 << 20,
    )


async def query(b: ContainerBackend, kernel_id: str, code: str) -> m.ExecResult:
    return await b.execute(kernel_id, m.ExecMode.QUERY, code, 60)


async def test_a_jupyter_image_runs_cells_on_its_kernel(
    backend: ContainerBackend, spec: m.KernelSpec
) -> None:
    await backend.create(spec)
    await query(backend, spec.kernel_id, "x = 5")
    got = await query(backend, spec.kernel_id, "import os\n_ = os.system('echo hi')\nx * 2")
    assert got.stdout == "hi\n"
    assert [d.data["text/plain"] for d in got.displays] == ["10"]
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"
    got = await query(backend, spec.kernel_id, code)
    pngs = [d.data["image/png"] for d in got.displays if "image/png" in d.data]
    assert len(pngs) == 1 and base64.b64decode(pngs[0]).startswith(b"\x89PNG"), got

    channel = await backend.open_live(spec.kernel_id)
    try:
        code = "print('hello', input('name? '))"
        await channel.send({"op": "run", "mode": "query", "code": code, "timeout": 30})
        events = []
        async with asyncio.timeout(60):
            while (event := await channel.receive()) is not None:
                events.append(event)
                if event["event"] == "input_request":
                    await channel.send({"op": "input", "value": "Ada"})
                if event["event"] == "finished":
                    break
        assert [e["text"] for e in events if e["event"] == "stdout"] == ["hello Ada\n"]
    finally:
        await channel.close()


async def test_an_image_without_jupyter_falls_back_to_the_runner(
    backend: ContainerBackend, spec: m.KernelSpec
) -> None:
    plain = m.KernelSpec(
        kernel_id=spec.kernel_id,
        session_id=spec.session_id,
        image=PYTHON_IMAGE,
        cpu=spec.cpu,
        mem_bytes=128 << 20,
    )
    await backend.create(plain)
    got = await query(backend, plain.kernel_id, "x = 6\nprint(x * 7)\nx")
    assert (got.status, got.stdout, got.displays) == (m.ExecStatus.FINISHED, "42\n", ())
