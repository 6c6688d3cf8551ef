"""A folder's subdirectory mounted at its own kernel path on the container backend."""

from __future__ import annotations

import base64
import secrets

import pytest

from cli.client import ShipyardClient

pytestmark = pytest.mark.e2e


async def test_a_subpath_is_what_the_container_sees_at_its_kernel_path(
    container_client: ShipyardClient,
) -> None:
    c = container_client
    name = f"c-{secrets.token_hex(3)}"
    folder = (await c.create_vfolder(name))["vfolder_id"]
    files = f"/v1/vfolders/{folder}/files"
    await c.request("POST", files + ":mkdir", body={"path": "sub/inner", "parents": True})
    session = await c.create_session(
        mounts=[f"{name}/sub:/home/work/x", f"{name}:whole"],
        resources={"cpu": "1", "mem": str(256 << 20)},
        wait=True,
    )
    assert session["status"] == "SESSION_STATUS_RUNNING", session
    sid = session["session_id"]
    ran = await c.execute(
        sid, "ls /home/work/x && ls /home/work/whole && echo hi > /home/work/x/c.txt", mode="batch"
    )
    assert ran["exit_code"] == 0, ran
    assert ran["stdout"].split() == ["inner", "sub"]
    fetched = await c.request("GET", files + ":fetch", params={"path": "sub/c.txt"})
    assert base64.b64decode(fetched["content"]) == b"hi\n"
    await c.destroy_session(sid)
