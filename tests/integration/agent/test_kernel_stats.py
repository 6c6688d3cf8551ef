"""A process-backend kernel's usage, measured from its cgroups and /proc on this machine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.agent.adapters.kernel_stats import docker_usage
from services.agent.adapters.process_backend import ProcessBackend
from services.agent.domain.model import ExecMode, ExecStatus
from tests.integration.agent.process_kernels import spec

pytestmark = pytest.mark.integration


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[ProcessBackend]:
    backend = ProcessBackend(tmp_path / "kernels", grace=2.0)
    yield backend
    await backend.close()


async def test_cpu_memory_and_writes_grow_as_the_kernel_works(backend: ProcessBackend) -> None:
    kid = f"k-{uuid.uuid4().hex[:12]}"
    await backend.create(spec(kid))
    [before] = await backend.kernel_stats()
    assert before.kernel_id == kid and before.mem_bytes > 0

    work = (
        "import os\n"
        "block = bytearray(64 << 20)\n"
        "with open('out.bin', 'wb') as f:\n"
        "    f.write(os.urandom(8 << 20)); f.flush(); os.fsync(f.fileno())\n"
        "total = sum(i * i for i in range(3_000_000))\n"
    )
    result = await backend.execute(kid, ExecMode.QUERY, work, 60)
    assert result.status is ExecStatus.FINISHED, result
    [after] = await backend.kernel_stats()

    assert after.cpu_seconds > before.cpu_seconds + 0.1
    assert after.mem_bytes >= 64 << 20  # the block is still referenced
    assert after.io_write_bytes >= before.io_write_bytes
    await backend.destroy(kid, "user-requested")
    assert await backend.kernel_stats() == []


def test_container_stats_from_the_engine_answer() -> None:
    usage = docker_usage(
        "k1",
        {
            "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
            "memory_stats": {"usage": 1234},
            "blkio_stats": {
                "io_service_bytes_recursive": [
                    {"op": "Read", "value": 10},
                    {"op": "Write", "value": 20},
                    {"op": "read", "value": 1},
                ]
            },
        },
    )
    assert (usage.cpu_seconds, usage.mem_bytes, usage.io_read_bytes, usage.io_write_bytes) == (
        2.5,
        1234,
        11,
        20,
    )
