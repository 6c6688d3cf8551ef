"""Files in a folder through the edge: what a kernel wrote is browsed, fetched, moved and removed
by its owner (REST and the CLI), a link a kernel planted toward the host is refused, and other
users see nothing."""

from __future__ import annotations

import base64
import secrets

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.cli_as_user import cli_ok
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e


async def test_an_owner_works_with_what_a_kernel_wrote(platform: Platform) -> None:
    alice, mallory = await ordinary_user(platform), await ordinary_user(platform)
    name = f"f-{secrets.token_hex(3)}"
    async with ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as c:
        folder = (await c.create_vfolder(name))["vfolder_id"]
        files = f"/v1/vfolders/{folder}/files"
        session = await c.create_session(vfolder_names=[name], wait=True)
        wrote = await c.execute(
            session["session_id"],
            f"mkdir -p {name}/out && echo hi > {name}/out/a.txt && ln -s /etc/passwd {name}/out/pw",
            mode="batch",
        )
        assert wrote["exit_code"] == 0, wrote
        await c.destroy_session(session["session_id"])

        listing = await c.request("GET", files, params={"path": "out"})
        entries = {e["name"]: e for e in listing["entries"]}
        assert entries["a.txt"]["type"] == "FILE_TYPE_FILE"
        assert entries["pw"]["type"] == "FILE_TYPE_SYMLINK"
        assert entries["pw"]["symlink_target"] == "/etc/passwd"
        fetched = await c.request("GET", files + ":fetch", params={"path": "out/a.txt"})
        assert base64.b64decode(fetched["content"]) == b"hi\n"
        with pytest.raises(ApiError) as err:
            await c.request("GET", files + ":fetch", params={"path": "out/pw"})
        assert err.value.status == 400 and "PATH_ESCAPES_FOLDER" in str(err.value.body)
        with pytest.raises(ApiError) as err:
            await c.request("POST", files + ":mkdir", body={"path": "../x"})
        assert err.value.status == 400 and "path" in str(err.value.body)

    async with ShipyardClient(platform.endpoint, mallory.access_key, mallory.secret_key) as m:
        for method, suffix, kwargs in (
            ("GET", "", {"params": {"path": "out"}}),
            ("GET", ":fetch", {"params": {"path": "out/a.txt"}}),
            ("POST", ":delete", {"body": {"paths": ["out"], "recursive": True}}),
        ):
            with pytest.raises(ApiError) as err:
                await m.request(method, files + suffix, **kwargs)
            assert err.value.status == 404, (suffix, err.value.body)

    async def shipyard(*argv: str) -> str:
        return await cli_ok(platform, alice, "vfolder", *argv)

    await shipyard("mv", name, "out/a.txt", "out/b.txt")
    assert await shipyard("cat", name, "out/b.txt") == "hi\n"
    listed = await shipyard("ls", name, "out")
    assert "b.txt" in listed and "pw@ -> /etc/passwd" in listed and "a.txt" not in listed
    await shipyard("mkdir", name, "deep/er", "-p")
    await shipyard("rm", name, "out", "deep", "-r")
    assert await shipyard("ls", name) == ""


async def test_a_dot_folder_is_mounted_in_every_session_of_its_owner(platform: Platform) -> None:
    keys = await ordinary_user(platform)
    async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as c:
        await c.create_vfolder(".local")
        first = await c.create_session(wait=True)  # no folder named: .local comes anyway
        wrote = await c.execute(
            first["session_id"], "mkdir -p .local/bin && echo kept > .local/bin/tool", mode="batch"
        )
        assert wrote["exit_code"] == 0, wrote
        await c.destroy_session(first["session_id"])
        second = await c.create_session(wait=True)
        read = await c.execute(second["session_id"], "cat .local/bin/tool", mode="batch")
        assert read["stdout"].strip() == "kept", read
        await c.destroy_session(second["session_id"])
