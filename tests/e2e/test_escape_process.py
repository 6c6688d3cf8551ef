"""The escape suite (tests/e2e/escape_attempts.py) against the real platform, per backend.

Every attempt runs in its own session; each must fail in the way its `Expect` says, and after it
the platform must still serve: the agent and services live, and a new session runs code.
A backend joins the suite by adding its name to BACKENDS and, in FIXTURES, the name of a
fixture giving a running Platform on it. `process` runs on kernels started for their session
(an agent without a pool); `process-pooled` on the shared `platform`, whose agent keeps
pre-started kernels: there each attempt waits for one and checks that its session got it, or,
when the attempt mounts a folder, that it did not (docs/performance.md, "Pre-started kernels").
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import ROOT, Platform
from tests.e2e.escape_attempts import ATTEMPTS, Attempt, Expect, Targets, program
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e

BACKENDS = ["process", "process-pooled", "container"]
FIXTURES = {
    "process": "fresh_kernels_platform",
    "process-pooled": "platform",
    "container": "container_platform",
}
POOLED = "process-pooled"


@dataclass
class Victim:
    client: ShipyardClient  # the attacker: an ordinary user of the same project
    session_id: str
    paths: list[str]  # host paths of its secret file, vfolder and runner socket
    read_only_folder: str


@dataclass(frozen=True)
class Backend:
    name: str
    platform: Platform


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request: pytest.FixtureRequest) -> Backend:
    return Backend(request.param, request.getfixturevalue(FIXTURES[request.param]))


@pytest.fixture(scope="module")
async def victim(backend: Backend) -> AsyncIterator[Victim]:
    """Another user's session with a secret in its work dir and in its folder; the attacker is
    an ordinary user of the same project, with a read-only folder of their own."""
    kernel_platform = backend.platform
    assert kernel_platform.keypair is not None
    key = kernel_platform.keypair
    mine = await ordinary_user(kernel_platform)
    async with (
        ShipyardClient(kernel_platform.endpoint, key.access_key, key.secret_key) as client,
        ShipyardClient(kernel_platform.endpoint, mine.access_key, mine.secret_key) as attacker,
    ):
        folder = f"victim-{secrets.token_hex(3)}"
        await client.create_vfolder(folder)
        read_only = f"ro-{secrets.token_hex(3)}"
        ro = await attacker.create_vfolder(read_only, read_only=True)
        assert ro["permission"] == "MOUNT_PERMISSION_READ_ONLY", ro
        session = await client.create_session(vfolder_names=[folder], wait=True)
        code = f"echo s3cret > secret-work.txt; echo s3cret > {folder}/secret-folder.txt"
        assert (await client.execute(session["session_id"], code, mode="batch"))["exit_code"] == 0
        data = kernel_platform.config.data_dir
        paths = [str(p) for p in data.rglob("secret-folder.txt")]
        paths += [str(Path(p).parent) for p in paths]
        sockets = [str(p) for p in Path("/tmp").glob("shipyard-*/*.sock")]  # runner sockets here
        if backend.name != "container":  # where the sockets live is known: never a vacuous try
            assert sockets, "the process backend's runner sockets were not found"
        paths += sockets
        yield Victim(attacker, session["session_id"], paths, read_only)
        await client.destroy_session(session["session_id"])


def targets(platform: Platform, victim: Victim) -> Targets:
    assert platform.infra is not None
    cfg = platform.config
    ports = {f"grpc-{name}": port for name, port in cfg.ports.items()}
    ports |= {"edge": cfg.edge_port, "envoy-admin": cfg.edge_admin_port}
    for name, url in (
        ("postgresql", platform.infra.database_url),
        ("redis", platform.infra.redis_url),
    ):
        ports[name] = urlsplit(url).port or {"postgresql": 5432, "redis": 6379}[name]
    pids = [proc.pid for proc in platform.processes.values()]
    return Targets(
        state_dir=str(cfg.data_dir),
        checkout=str(ROOT),
        tcp_ports=ports,
        host_pids=[*pids, psutil.Process().pid],
        other_paths=victim.paths,
        read_only_folder=victim.read_only_folder,
    )


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.name for a in ATTEMPTS])
async def test_attempt_fails_and_the_platform_keeps_serving(
    backend: Backend, victim: Victim, attempt: Attempt
) -> None:
    kernel_platform = backend.platform
    client = victim.client
    fields: dict[str, Any] = {"environ": attempt.environ}
    fields["resources"] = {"cpu": "1", "mem": str(attempt.mem_bytes)}
    if attempt.mount_read_only_folder:
        fields["vfolder_names"] = [victim.read_only_folder]
    if attempt.expect is Expect.REFUSED:
        with pytest.raises(ApiError) as err:
            await client.create_session(wait=True, **fields)
        assert err.value.status == 400
        assert all(f"environ[{name}]" in str(err.value.body) for name in attempt.environ)
    else:
        if backend.name == POOLED and not attempt.mount_read_only_folder:
            await _pool_kernel_waiting(kernel_platform)
        session = await client.create_session(wait=True, **fields)
        assert session["status"] == "SESSION_STATUS_RUNNING", session
        if backend.name == POOLED:
            handed_out = _handed_out(kernel_platform, session["kernels"][0]["kernel_id"])
            assert handed_out != attempt.mount_read_only_folder, session
        code = program(attempt, targets(kernel_platform, victim))
        try:
            result = await client.execute(session["session_id"], code, timeout_s=120)
        finally:
            await client.destroy_session(session["session_id"], forced=True)
        assert "ESCAPED" not in result["stdout"], result
        if attempt.expect is Expect.BLOCKED:
            lines = result["stdout"].splitlines()
            assert lines and all(line.startswith("blocked") for line in lines), result
            assert result["status"] == "EXECUTION_STATUS_FINISHED", result
        else:
            assert result["status"] == "EXECUTION_STATUS_FAILED", result
            assert result["error_name"] in ("OutOfMemory", "MemoryError"), result
    await _still_serving(kernel_platform, client)


async def _still_serving(platform: Platform, client: ShipyardClient) -> None:
    assert [n for n, p in platform.processes.items() if p.returncode is not None] == []
    probe = await client.create_session(wait=True)
    assert (await client.execute(probe["session_id"], "print(6*7)"))["stdout"] == "42\n"
    await client.destroy_session(probe["session_id"])


def _agent_log(platform: Platform) -> str:
    return (platform.config.data_dir / "logs" / "agent.log").read_text(errors="replace")


def _handed_out(platform: Platform, kernel_id: str) -> bool:
    return f"kernel {kernel_id}: handed out pre-started kernel" in _agent_log(platform)


async def _pool_kernel_waiting(platform: Platform) -> None:
    """Wait (bounded) until the agent has a pre-started kernel it has not handed out."""
    async with asyncio.timeout(60):
        while True:
            text = _agent_log(platform)
            ready = set(re.findall(r"pre-started kernel (pool-[0-9a-f]+) ready", text))
            used = set(re.findall(r"handed out pre-started kernel (pool-[0-9a-f]+)", text))
            if ready - used:
                return
            await asyncio.sleep(0.1)
