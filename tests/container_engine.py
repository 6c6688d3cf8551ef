"""The real container engine and test images the container tests run on (Podman here).

When Podman is installed its service is started if needed and the images are built once
(`scripts/build-test-images`); only a machine without any engine skips, saying so.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.engine import find_engine, socket_url, start_podman

ROOT = Path(__file__).resolve().parent.parent
PYTHON_IMAGE = "localhost/shipyard/python:3.11"
BUSYBOX_IMAGE = "localhost/shipyard/busybox:1"


async def engine_url() -> str:
    """The engine's Docker API URL; skips only where neither Docker nor Podman exists."""
    found = await find_engine()
    if found is None and shutil.which("podman") is None:
        pytest.skip("no container engine on this machine (neither Docker nor Podman)")
    found = found or await start_podman(log_path=Path("/tmp/shipyard-podman-service.log"))
    assert found is not None, "podman is installed but its Docker API service did not start"
    return socket_url(found)


async def ensure_test_images() -> None:
    if shutil.which("podman") is None:
        return  # a Docker-only machine must provide the images itself
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "build-test-images"), stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, f"building the test images failed: {err.decode()[-2000:]}"
