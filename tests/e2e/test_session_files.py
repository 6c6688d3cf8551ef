"""Files in a session's work directory through the edge with a real kernel (issue 11, item 6):
the owner uploads with the CLI, sees the file from code, lists it and downloads it back byte for
byte; escapes by `..`, absolute paths and symlinks are refused; nobody else reaches the files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.cli_as_user import cli_ok
from tests.e2e.tenants import domain_admin, ordinary_user

pytestmark = pytest.mark.e2e
SMALL = {"cpu": "1", "mem": "268435456"}


async def _status(client: ShipyardClient, method: str, path: str, **kw: object) -> int:
    with pytest.raises(ApiError) as refused:
        await client.request(method, path, **kw)  # type: ignore[arg-type]
    return refused.value.status


async def test_put_run_list_get_and_escapes(platform: Platform, tmp_path: Path) -> None:
    owner = await ordinary_user(platform)
    async with ShipyardClient(platform.endpoint, owner.access_key, owner.secret_key) as client:
        session = await client.create_session(wait=True, resources=SMALL)
        sid = session["session_id"]
        base = f"/v1/sessions/{sid}/files"
        try:
            blob = os.urandom(3 * 1024 * 1024 + 12345)
            local = tmp_path / "blob.bin"
            local.write_bytes(blob)
            await cli_ok(
                platform, owner, "session", "files", "put", sid, str(local), "data/blob.bin"
            )
            await client.request(
                "POST",
                f"{base}:upload",
                body={"path": "note.txt", "data": base64.b64encode(b"hello").decode()},
            )

            # The kernel's code sees what was uploaded, in its work directory.
            code = (
                "import hashlib\n"
                "print(open('note.txt').read())\n"
                "print(hashlib.sha256(open('data/blob.bin','rb').read()).hexdigest())"
            )
            ran = await client.execute(sid, code)
            assert ran["stdout"].split() == ["hello", hashlib.sha256(blob).hexdigest()]

            listed = await cli_ok(platform, owner, "session", "files", "ls", sid)
            assert "data" in listed and "note.txt" in listed
            inner = await client.request("GET", base, params={"path": "data"})
            assert [(f["name"], int(f["size"])) for f in inner["files"]] == [
                ("blob.bin", len(blob))
            ]
            back = tmp_path / "back.bin"
            await cli_ok(
                platform, owner, "session", "files", "get", sid, "data/blob.bin", str(back)
            )
            assert back.read_bytes() == blob

            # Escapes: `..` and absolute paths are bad input; symlinks lead nowhere.
            await client.execute(
                sid, "import os\nos.symlink('/etc', 'etc-link')\nos.symlink('/etc/passwd', 'pw')"
            )
            for bad in ("../x", "/etc/passwd", "data/../../x"):
                params = {"path": bad}
                assert await _status(client, "GET", f"{base}:download", params=params) == 400
            for link in ("etc-link/passwd", "pw"):
                params = {"path": link}
                assert await _status(client, "GET", f"{base}:download", params=params) == 404
            body = {"path": "etc-link/planted", "data": "eA=="}
            assert await _status(client, "POST", f"{base}:upload", body=body) == 404
            assert await _status(client, "GET", base, params={"path": "etc-link"}) == 404
            kinds = {f["name"]: f["kind"] for f in (await client.request("GET", base))["files"]}
            assert kinds["pw"] == "KERNEL_FILE_KIND_SYMLINK"
            bad_field = await _bad_body(client, f"{base}:download", {"path": "../x"})
            assert "path" in bad_field

            # Another user and another domain's admin: not found; no credentials: 401.
            for keys in (await ordinary_user(platform), await domain_admin(platform)):
                async with ShipyardClient(
                    platform.endpoint, keys.access_key, keys.secret_key
                ) as other:
                    assert await _status(other, "GET", base) == 404
                    params = {"path": "note.txt"}
                    assert await _status(other, "GET", f"{base}:download", params=params) == 404
                    overwrite = {"path": "note.txt", "data": "eA==", "truncate": True}
                    assert await _status(other, "POST", f"{base}:upload", body=overwrite) == 404
            async with httpx.AsyncClient() as http:
                stranger = await http.get(f"{platform.endpoint}{base}")
                assert stranger.status_code == 401
            got = await client.request("GET", f"{base}:download", params={"path": "note.txt"})
            assert base64.b64decode(got["data"]) == b"hello"  # untouched by the others
        finally:
            await client.destroy_session(sid, forced=True)


async def _bad_body(client: ShipyardClient, path: str, params: dict[str, str]) -> str:
    with pytest.raises(ApiError) as refused:
        await client.request("GET", path, params=params)
    return json.dumps(refused.value.body)
