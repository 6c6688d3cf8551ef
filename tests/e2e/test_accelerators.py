"""Mock GPUs along the whole path: agent detection -> slots -> scheduling -> grant -> release.

Its own platform: an agent with two mock `cuda.device`s, on the process backend.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform, PlatformConfig
from services.auth.domain.model import (
    Keypair,
)
from tests.conftest import create_database, drop_database
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e

GPU = {"cpu": "0.5", "mem": str(256 * 1024**2), "cuda.device": "1"}

# What a kernel holding one device sees: its id and its node, plus the shared control node.
SEES = {f"mock-gpu-{i}": (f"mock-gpu-{i}", (f"mock-nvidia{i}", "mock-nvidiactl")) for i in range(2)}

PROBE = """
import json, os
d = {dir!r}
entries = sorted(os.listdir(d)) if os.path.isdir(d) else []
print(json.dumps([os.environ.get("CUDA_VISIBLE_DEVICES"), entries]))
"""


@pytest.fixture(scope="module")
def node_dir() -> Iterator[Path]:
    # Private to root: kernels reach their nodes through the binds the agent stages for them.
    base = Path(tempfile.mkdtemp(prefix="shipyard-mock-devices-"))
    base.chmod(0o700)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
async def gpu_platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, node_dir: Path
) -> AsyncIterator[Platform]:
    data_dir = tmp_path_factory.mktemp("shipyard-gpu")
    config = data_dir / "mock-gpus.toml"
    config.write_text(
        f'node_dir = "{node_dir}"\n'
        'shared_nodes = ["mock-nvidiactl"]\n'
        '[[devices]]\nid = "mock-gpu-0"\nnodes = ["mock-nvidia0"]\n'
        '[[devices]]\nid = "mock-gpu-1"\nnodes = ["mock-nvidia1"]\n'
    )
    db_name, database_url = await create_database()
    running = Platform(
        PlatformConfig.ephemeral(
            data_dir,
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=f"e2e-gpu:{secrets.token_hex(4)}:",
            agent_env={
                "CPU": "4",
                "MEM_BYTES": str(4 * 1024**3),
                "ACCELERATORS": "mock",
                "MOCK_ACCELERATOR_CONFIG": str(config),
            },
        )
    )
    await running.start()
    yield running
    await running.stop()
    await drop_database(db_name)


def _client(platform: Platform, keypair: Keypair) -> ShipyardClient:
    return ShipyardClient(platform.endpoint, keypair.access_key, keypair.secret_key)


@pytest.fixture
async def admin(gpu_platform: Platform) -> AsyncIterator[ShipyardClient]:
    assert gpu_platform.keypair is not None
    async with ShipyardClient(
        gpu_platform.endpoint, gpu_platform.keypair.access_key, gpu_platform.keypair.secret_key
    ) as c:
        yield c


@pytest.fixture(scope="module")
async def alice(gpu_platform: Platform) -> AsyncIterator[ShipyardClient]:
    async with _client(gpu_platform, await ordinary_user(gpu_platform, "alice@x.org")) as c:
        yield c


@pytest.fixture(scope="module")
async def bob(gpu_platform: Platform) -> AsyncIterator[ShipyardClient]:
    async with _client(gpu_platform, await ordinary_user(gpu_platform, "bob@x.org")) as c:
        yield c


async def _until(check: Any, timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            if value := await check():
                return value
            await asyncio.sleep(0.2)


async def _status(client: ShipyardClient, sid: str) -> str:
    return str((await client.get_session(sid))["status"]).removeprefix("SESSION_STATUS_")


async def _wait_status(client: ShipyardClient, sid: str, status: str) -> None:
    async def reached() -> bool:
        return await _status(client, sid) == status

    await _until(reached)


async def _sees(
    client: ShipyardClient, sid: str, node_dir: Path
) -> tuple[str | None, tuple[str, ...]]:
    """The kernel's CUDA_VISIBLE_DEVICES and the mock device nodes it can see."""
    result = await client.execute(sid, PROBE.format(dir=str(node_dir)))
    assert result["status"] == "EXECUTION_STATUS_FINISHED", result
    visible, nodes = json.loads(result["stdout"])
    return visible, tuple(nodes)


async def _cuda(client: ShipyardClient, field: str) -> str:
    agents = await client.list_agents()
    return str(agents[0][field]["amounts"].get("cuda.device", "0"))


async def test_the_agent_reports_its_mock_devices(admin: ShipyardClient) -> None:
    assert await _cuda(admin, "available_slots") == "2"


async def test_two_gpu_sessions_get_one_device_each_and_a_third_waits_for_one(
    alice: ShipyardClient, bob: ShipyardClient, admin: ShipyardClient, node_dir: Path
) -> None:
    first = await alice.create_session(wait=True, resources=GPU)
    second = await bob.create_session(wait=True, resources=GPU)
    assert first["status"] == second["status"] == "SESSION_STATUS_RUNNING", (first, second)
    seen = {
        await _sees(alice, first["session_id"], node_dir),
        await _sees(bob, second["session_id"], node_dir),
    }
    # Exactly one device each, a different one, and only its node (plus the shared one).
    assert seen == {SEES["mock-gpu-0"], SEES["mock-gpu-1"]}
    assert await _cuda(admin, "occupied_slots") == "2"

    third = await alice.create_session(resources=GPU)
    tid = third["session_id"]

    async def explained() -> dict[str, Any] | None:
        got = await alice.get_session(tid)
        return got if got["status_info"] else None

    pending = await _until(explained)
    assert pending["status"] == "SESSION_STATUS_PENDING"
    assert pending["status_info"] == "no-available-instances"
    assert "cuda.device" in pending["status_message"], pending["status_message"]

    # Once Bob's session ends, its device goes to Alice's waiting one.
    freed, _ = await _sees(bob, second["session_id"], node_dir)
    await bob.destroy_session(second["session_id"])
    await _wait_status(alice, tid, "RUNNING")
    assert freed is not None
    assert await _sees(alice, tid, node_dir) == SEES[freed]

    for sid in (first["session_id"], tid):
        await alice.destroy_session(sid)
    for sid in (first["session_id"], tid):
        await _wait_status(alice, sid, "TERMINATED")
    await _wait_status(bob, second["session_id"], "TERMINATED")

    async def all_free() -> bool:
        return await _cuda(admin, "occupied_slots") == "0"

    await _until(all_free)


async def test_a_session_without_gpus_sees_no_device_node(
    bob: ShipyardClient, node_dir: Path
) -> None:
    session = await bob.create_session(wait=True, resources={"cpu": "0.5", "mem": "268435456"})
    assert await _sees(bob, session["session_id"], node_dir) == (None, ())
    await bob.destroy_session(session["session_id"])


async def test_a_slot_no_agent_has_keeps_the_session_pending_naming_it(
    alice: ShipyardClient,
) -> None:
    session = await alice.create_session(resources={**GPU, "cuda.device": "0", "rocm.device": "1"})
    sid = session["session_id"]

    async def explained() -> dict[str, Any] | None:
        got = await alice.get_session(sid)
        return got if got["status_info"] else None

    got = await _until(explained)
    assert got["status"] == "SESSION_STATUS_PENDING"
    assert "rocm.device" in got["status_message"]
    await alice.destroy_session(sid)


async def test_half_a_device_is_a_400_naming_the_field(alice: ShipyardClient) -> None:
    with pytest.raises(ApiError) as err:
        await alice.create_session(resources={**GPU, "cuda.device": "0.5"})
    assert err.value.status == 400
    assert "resources.cuda.device" in str(err.value.body)


async def test_the_cli_asks_for_a_gpu_with_resource(
    gpu_platform: Platform, node_dir: Path, tmp_path: Path
) -> None:
    keypair = await ordinary_user(gpu_platform, "carol@x.org")
    env = {
        **os.environ,
        "SHIPYARD_ENDPOINT": gpu_platform.endpoint,
        "SHIPYARD_ACCESS_KEY": keypair.access_key,
        "SHIPYARD_SECRET_KEY": keypair.secret_key,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "--data-dir",
        str(tmp_path),
        "session",
        "create",
        "--resource",
        "cuda.device=1",
        "--wait",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    session = json.loads(out)
    assert session["status"] == "SESSION_STATUS_RUNNING"
    assert session["requested_slots"]["amounts"]["cuda.device"] == "1"
    async with _client(gpu_platform, keypair) as carol:
        visible, nodes = await _sees(carol, session["session_id"], node_dir)
        assert visible is not None and nodes == SEES[visible][1]
        await carol.destroy_session(session["session_id"])
        await _wait_status(carol, session["session_id"], "TERMINATED")
