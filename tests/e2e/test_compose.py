"""The one-host deployment: deploy/compose.yaml brings the service images up (scripts/images
builds them, cached) and users run sessions through the edge, on the host's container engine."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from cli.client import ApiError, ShipyardClient
from cli.infra import free_port
from tests.conftest import create_database, drop_database
from tests.container_engine import engine_url, ensure_test_images
from tests.e2e.tenants import ordinary_user

# The first run on a machine builds the images (several minutes); later runs reuse them.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"


@dataclass
class Deployment:
    endpoint: str
    keypair: SimpleNamespace


def _compose_command() -> list[str]:
    """podman-compose beside Podman (requirements-dev.txt), else Docker's compose plugin."""
    podman_compose = Path(sys.executable).with_name("podman-compose")
    if shutil.which("podman") and podman_compose.exists():
        return [str(podman_compose)]
    if shutil.which("docker"):
        return ["docker", "compose"]
    pytest.skip("no compose tool: podman-compose (with Podman) or docker compose")


async def _run(*argv: str, env: dict[str, str], timeout: float = 900) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, f"{argv[:3]} failed:\n{err.decode()[-3000:]}"
    return out.decode()


async def _until(check: Any, what: str, timeout: float = 120.0) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                if value := await check():
                    return value
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.fixture(scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    engine = await engine_url()  # skips only where no container engine exists
    compose = _compose_command()
    await ensure_test_images()  # the kernels' image
    env = {**os.environ, "SHIPYARD_IMAGE_TAG": "dev"}
    await _run(str(ROOT / "scripts" / "images"), env=env)

    db_name, database_url = await create_database()
    # Short: runner sockets live below the data directory, and unix socket paths are capped.
    work = Path(tempfile.mkdtemp(prefix="syc-", dir="/tmp"))
    ports = {name: free_port() for name in ("AUTH", "REGISTRY", "SCHEDULER", "STORAGE", "AGENT")}
    edge_port = free_port()
    project = f"shipyard-e2e-{secrets.token_hex(3)}"
    env |= {f"SHIPYARD_{name}_PORT": str(port) for name, port in ports.items()}
    env |= {
        "SHIPYARD_SECRETS_DIR": str(work / "secrets"),
        "SHIPYARD_DATA_DIR": str(work / "data"),
        "SHIPYARD_ENGINE_SOCKET": engine.removeprefix("unix://"),
        "SHIPYARD_EDGE_HOST": "127.0.0.1",
        "SHIPYARD_EDGE_PORT": str(edge_port),
        "SHIPYARD_EDGE_ADMIN_PORT": str(free_port()),
        "SHIPYARD_REDIS_PREFIX": f"{project}:",
        "SHIPYARD_AGENT_ID": project,
    }
    redis_url = os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    await _run(
        sys.executable,
        str(ROOT / "scripts" / "deploy_secrets.py"),
        env["SHIPYARD_SECRETS_DIR"],
        f"--database-url={database_url}",
        f"--redis-url={redis_url}",
        env=env,
    )
    base = [*compose, "-f", str(COMPOSE_FILE), "-p", project]
    try:
        await _run(*base, "up", "-d", env=env)
        endpoint = f"http://127.0.0.1:{edge_port}"

        async def edge_answers() -> bool:
            async with httpx.AsyncClient() as http:
                try:
                    return (await http.get(f"{endpoint}/v1/identity", timeout=2)).status_code == 401
                except httpx.HTTPError:
                    return False

        await _until(edge_answers, "the edge and auth")
        printed = await _run(
            *base, "exec", "-T", "auth", "python", "-m", "services.auth", "bootstrap", env=env
        )
        keys = json.loads(printed.strip().splitlines()[-1])
        keypair = SimpleNamespace(access_key=keys["access_key"], secret_key=keys["secret_key"])
        async with ShipyardClient(endpoint, keypair.access_key, keypair.secret_key) as root:

            async def agent_alive() -> bool:
                agents = await root.list_agents()
                return any(
                    a["agent_id"] == project and a["status"] == "STATUS_ALIVE" for a in agents
                )

            await _until(agent_alive, "the agent to register")
        yield Deployment(endpoint=endpoint, keypair=keypair)
    finally:
        logs = tmp_path_factory.mktemp("compose") / "compose.log"  # kept for a failure's reader
        with logs.open("w") as out:
            subprocess.run([*base, "logs"], env=env, cwd=ROOT, stdout=out, stderr=out, check=False)
        subprocess.run(
            [*base, "down", "-t", "20"], env=env, cwd=ROOT, capture_output=True, check=False
        )
        await drop_database(db_name)
        shutil.rmtree(work, ignore_errors=True)


async def test_an_ordinary_user_runs_a_session_with_a_folder_through_the_edge(
    deployment: Deployment,
) -> None:
    user = await ordinary_user(deployment)  # type: ignore[arg-type]  # endpoint + keypair suffice
    async with ShipyardClient(deployment.endpoint, user.access_key, user.secret_key) as c:
        name = f"data{secrets.token_hex(3)}"
        await c.create_vfolder(name)
        session = await c.create_session(vfolder_names=[name], wait=True)
        assert session["status"] == "SESSION_STATUS_RUNNING", session
        sid = session["session_id"]
        # The kernel is a container of the host's engine, as the kernels' user, and writes
        # into the folder storage (another container) made: both see the same path.
        result = await c.execute(
            sid,
            f"import os; open('{name}/out.txt', 'w').write('kept'); "
            f"print(os.getuid(), sorted(os.listdir('{name}')))",
        )
        assert result["stdout"].strip().split(maxsplit=1) == ["64000", "['out.txt']"], result
        batch = await c.execute(sid, f"cat {name}/out.txt; exit 3", mode="batch")
        assert batch["exit_code"] == 3 and batch["stdout"] == "kept"

        other = await ordinary_user(deployment)  # type: ignore[arg-type]
        async with ShipyardClient(deployment.endpoint, other.access_key, other.secret_key) as o:
            with pytest.raises(ApiError) as hidden:
                await o.get_session(sid)
            assert hidden.value.status == 404

        await c.destroy_session(sid)

        async def ended() -> bool:
            got = await c.get_session(sid)
            return bool(got["status"] == "SESSION_STATUS_TERMINATED")

        await _until(ended, "the session to end")


async def test_a_stranger_is_refused_at_the_edge(deployment: Deployment) -> None:
    async with ShipyardClient(deployment.endpoint, "AKSTRANGER0000000000", "x" * 40) as c:
        with pytest.raises(ApiError) as refused:
            await c.create_session()
        assert refused.value.status == 401
