"""Sessions on the container backend through the edge, and what a kernel cannot reach from there."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from tests.container_engine import PYTHON_IMAGE, push, remove_image, tls_registry

pytestmark = pytest.mark.e2e

MEM = str(256 << 20)


async def _until(check: Any, timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            if value := await check():
                return value
            await asyncio.sleep(0.1)


async def _ended(client: ShipyardClient, sid: str) -> dict[str, Any]:
    async def dead() -> dict[str, Any] | None:
        got = await client.get_session(sid)
        return (
            got if got["status"] in ("SESSION_STATUS_TERMINATED", "SESSION_STATUS_ERROR") else None
        )

    ended: dict[str, Any] = await _until(dead)
    return ended


async def test_the_agent_reports_the_container_backend(container_client: ShipyardClient) -> None:
    agents = await container_client.list_agents()
    assert [a["backend"] for a in agents] == ["container"]


async def test_a_session_runs_in_a_container_as_an_unprivileged_user(
    container_client: ShipyardClient,
) -> None:
    session = await container_client.create_session(wait=True, resources={"cpu": "1", "mem": MEM})
    assert session["status"] == "SESSION_STATUS_RUNNING", session
    sid = session["session_id"]
    result = await container_client.execute(
        sid,
        "import os; print(os.getuid(), open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read())",
    )
    assert result["stdout"].split() == ["64000", MEM]
    batch = await container_client.execute(sid, "echo hi; exit 3", mode="batch")
    assert batch["exit_code"] == 3 and batch["stdout"] == "hi\n"
    await container_client.destroy_session(sid)
    assert (await _ended(container_client, sid))["status"] == "SESSION_STATUS_TERMINATED"


async def test_logs_of_a_batch_session_outlive_it(container_client: ShipyardClient) -> None:
    session = await container_client.create_session(
        session_type="SESSION_TYPE_BATCH",
        startup_command="echo working; echo failing >&2; exit 7",
        wait=True,
    )
    sid = session["session_id"]
    ended = await _ended(container_client, sid)
    assert ended["kernels"][0]["exit_code"] == 7
    logs = await container_client.get_session_logs(sid)
    assert "working" in logs and "failing" in logs
    assert await container_client.get_session_logs(sid, tail_lines=1) in ("failing\n", "working\n")

    with pytest.raises(ApiError) as err:
        await container_client.get_session_logs(sid, tail_lines=-1)
    assert err.value.status == 400 and "tail_lines" in str(err.value.body)
    with pytest.raises(ApiError) as missing:
        await container_client.get_session_logs("00000000-0000-4000-8000-000000000000")
    assert missing.value.status == 404


async def test_running_out_of_memory_ends_the_session_as_oom_killed(
    container_client: ShipyardClient,
) -> None:
    session = await container_client.create_session(
        wait=True, resources={"cpu": "1", "mem": str(64 << 20)}
    )
    sid = session["session_id"]
    result = await container_client.execute(sid, "blob = bytearray(1 << 30)")
    assert result["error_name"] == "OutOfMemory"
    ended = await _ended(container_client, sid)
    assert ended["status_info"] == "oom-killed"


async def _rescan(client: ShipyardClient, host: str) -> None:
    """A superadmin registers the registry and rescans it, as a real deployment would."""
    await client.request(
        "POST",
        "/v1/container-registries",
        body={"name": host, "url": f"https://{host}", "ssl_verify": False},
    )
    task = await client.request("POST", f"/v1/container-registries/{host}:rescan", body={})
    task = task["task"]
    async with asyncio.timeout(60):
        while task["state"] == "STATE_RUNNING":
            await asyncio.sleep(0.1)
            task = (await client.request("GET", f"/v1/rescan-tasks/{task['task_id']}"))["task"]
    assert task["state"] == "STATE_SUCCEEDED" and task["updated"] >= 1, task


async def test_an_image_from_a_registry_is_pulled_first(
    container_client: ShipyardClient, tmp_path: Path
) -> None:
    async with tls_registry(tmp_path) as host:
        image = f"{host}/shipyard/python:{secrets.token_hex(4)}"
        await push(PYTHON_IMAGE, image)
        try:
            await _rescan(container_client, host)
            session = await container_client.create_session(
                image=image, wait=True, wait_timeout="120s", resources={"cpu": "1", "mem": MEM}
            )
            assert session["status"] == "SESSION_STATUS_RUNNING", session
            history = session["status_history"]
            assert {"PREPARING", "PULLING", "RUNNING"} <= set(history)
            assert history["PREPARING"] <= history["PULLING"] <= history["RUNNING"]
            result = await container_client.execute(session["session_id"], "print('pulled')")
            assert result["stdout"] == "pulled\n"
            await container_client.destroy_session(session["session_id"])
            await _ended(container_client, session["session_id"])
        finally:
            await remove_image(image)
