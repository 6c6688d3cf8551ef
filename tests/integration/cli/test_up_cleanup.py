"""`shipyard up` leaves nothing behind, however it ends: its services, Envoy and kernels end too."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from cli.client import ShipyardClient
from cli.platform import ROOT
from tests.conftest import create_database, drop_database
from tests.container_engine import engine_url, ensure_test_images

pytestmark = pytest.mark.integration


@pytest.fixture
async def database_dsn() -> AsyncIterator[str]:
    name, url = await create_database()
    yield url
    await drop_database(name)


def _start(
    data_dir: Path, dsn: str, redis_url: str, stdout: int, backend: str = "process"
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "cli", "--data-dir", str(data_dir), "up", "--free-ports"]
    argv += ["--backend", backend]
    argv += ["--database-url", dsn, "--redis-url", redis_url]
    argv += ["--redis-prefix", f"up-{secrets.token_hex(4)}:"]
    return subprocess.Popen(argv, cwd=ROOT, stdout=stdout, stderr=subprocess.DEVNULL)


async def _wait_up(data_dir: Path, up: subprocess.Popen[bytes]) -> dict[str, str]:
    async with asyncio.timeout(120):
        while not (data_dir / "client.json").exists():
            assert up.poll() is None, "shipyard up exited before it was up"
            await asyncio.sleep(0.2)
    conf: dict[str, str] = json.loads((data_dir / "client.json").read_text())
    return conf


async def _start_a_kernel(conf: dict[str, str]) -> str:
    async with ShipyardClient(conf["endpoint"], conf["access_key"], conf["secret_key"]) as c:
        session = await c.create_session(wait=True)
        assert session["status"] == "SESSION_STATUS_RUNNING", session
        return str(session["kernels"][0]["kernel_id"])


def _family(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


async def _all_gone(procs: list[psutil.Process], within: float = 60) -> list[str]:
    """Those of `procs` still running after `within` seconds (zombies count as gone)."""
    loop = asyncio.get_running_loop()
    _, alive = await loop.run_in_executor(None, lambda: psutil.wait_procs(procs, timeout=within))
    return [f"{p.pid} {p.name()}" for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize(
    "how", ["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL", "closed-pipe"], ids=str.lower
)
async def test_nothing_outlives_shipyard_up(
    tmp_path: Path, database_dsn: str, redis_url: str, how: str
) -> None:
    tee = None
    if how == "closed-pipe":  # shipyard up | tee log, then tee goes away
        tee = subprocess.Popen(["tee", str(tmp_path / "log")], stdin=subprocess.PIPE)
        assert tee.stdin is not None
        up = _start(tmp_path / "data", database_dsn, redis_url, tee.stdin.fileno())
        tee.stdin.close()
    else:
        up = _start(tmp_path / "data", database_dsn, redis_url, subprocess.DEVNULL)
    try:
        conf = await _wait_up(tmp_path / "data", up)
        await _start_a_kernel(conf)
        family = _family(up.pid)
        names = {p.name() for p in family}
        assert {"envoy", "bwrap"} <= names, names  # the edge and a kernel sandbox are there
        if tee is not None:
            tee.kill()
            tee.wait()
        else:
            os.kill(up.pid, getattr(signal, how))
        assert await _all_gone(family) == []
    finally:
        if up.poll() is None:
            up.kill()
        up.wait()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"], ids=str.lower)
async def test_no_container_outlives_shipyard_up(
    tmp_path: Path, database_dsn: str, redis_url: str, how: str
) -> None:
    await engine_url()  # the engine answers (Podman's service started when needed)
    await ensure_test_images()
    up = _start(tmp_path / "data", database_dsn, redis_url, subprocess.DEVNULL, "container")
    try:
        conf = await _wait_up(tmp_path / "data", up)
        name = f"shipyard-{await _start_a_kernel(conf)}"
        assert await _container_exists(name)
        family = _family(up.pid)
        os.kill(up.pid, getattr(signal, how))
        assert await _all_gone(family) == []
        assert not await _container_exists(name)
    finally:
        if up.poll() is None:
            up.kill()
        up.wait()


async def _container_exists(name: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "podman", "container", "exists", name, stdout=subprocess.DEVNULL
    )
    return await proc.wait() == 0
