"""Files in a container kernel's work directory through its runner (the module travels with it)."""

from __future__ import annotations

import os

import pytest

from libs.core.errors import NotFound
from services.agent.adapters.container_backend import ContainerBackend
from services.agent.adapters.runner_files import RunnerFiles
from services.agent.domain import model as m
from tests.integration.agent.container_kernels import (
    agent_id,
    backend,
    kernel_root,
    query,
    spec,
    url,
)

__all__ = ["agent_id", "backend", "kernel_root", "url"]


async def test_upload_is_seen_by_code_and_downloads_back(backend: ContainerBackend) -> None:
    s = spec()
    await backend.create(s)
    files = RunnerFiles(backend.runner)
    blob = os.urandom(200_000)
    assert await files.write(s.kernel_id, "in/blob.bin", 0, blob, truncate=True) == len(blob)
    r = await query(backend, s.kernel_id, "print(len(open('/home/work/in/blob.bin','rb').read()))")
    assert r.status is m.ExecStatus.FINISHED and r.stdout == f"{len(blob)}\n", r
    await query(backend, s.kernel_id, "import os\nos.symlink('/etc', 'etc')")
    assert (await files.read(s.kernel_id, "in/blob.bin", 0, 1 << 20)).data == blob
    kinds = {e.name: e.kind.value for e in (await files.list(s.kernel_id, "", 0, 100)).entries}
    assert kinds["in"] == "directory" and kinds["etc"] == "symlink"
    with pytest.raises(NotFound):
        await files.read(s.kernel_id, "etc/passwd", 0, 100)
