"""Files over plain HTTP through the edge, as an ordinary user would from a browser or curl:
a tus upload resumed after a cut, a Range download, a folder as a zip, and tokens that open
nothing else (another user's token requests are refused before any token is issued), and
tokens that stop working once their user loses the folder."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import zipfile

import aiohttp
import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


async def test_a_tus_upload_and_range_download_through_the_edge(platform: Platform) -> None:
    alice, mallory = await ordinary_user(platform), await ordinary_user(platform)
    data = os.urandom(5 * MiB + 3)
    async with ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as c:
        folder = (await c.create_vfolder(f"h-{secrets.token_hex(3)}"))["vfolder_id"]
        await c.request("POST", f"/v1/vfolders/{folder}/files:mkdir", body={"path": "set"})
        issued = await c.request(
            "POST",
            f"/v1/vfolders/{folder}/files:upload-session",
            body={"path": "set/blob.bin", "size": str(len(data))},
        )
    edge = platform.endpoint.rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{edge}/v1/storage/transfers/uploads",
            params={"token": issued["token"]},
            headers={**TUS, "Upload-Length": str(len(data)), "Origin": "https://lab.example"},
        ) as created:
            assert created.status == 201, await created.text()
            # A page on any origin may read the answer (the token is the only credential).
            assert created.headers["Access-Control-Allow-Origin"] == "https://lab.example"
            upload = f"{edge}{created.headers['Location']}"
        patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
        async with http.patch(
            upload, data=io.BytesIO(data[: 2 * MiB]), headers={**patch, "Upload-Offset": "0"}
        ) as first:
            assert first.status == 204
        async with http.head(upload, headers=TUS) as head:
            offset = int(head.headers["Upload-Offset"])
        assert offset == 2 * MiB
        async with http.patch(
            upload, data=io.BytesIO(data[offset:]), headers={**patch, "Upload-Offset": str(offset)}
        ) as rest:
            assert rest.status == 204
            assert rest.headers["Upload-Offset"] == str(len(data))

        async with ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as c:
            tokens = [
                (
                    await c.request(
                        "POST",
                        f"/v1/vfolders/{folder}/files:download-token",
                        body={"path": path},
                    )
                )["token"]
                for path in ("set/blob.bin", "set")
            ]
        token, directory = tokens
        download = f"{edge}/v1/storage/transfers/download"
        async with http.get(download, params={"token": token}) as whole:
            assert whole.status == 200
            assert hashlib.sha256(await whole.read()).digest() == hashlib.sha256(data).digest()
        async with http.get(
            download, params={"token": token}, headers={"Range": "bytes=-100"}
        ) as tail:
            assert tail.status == 206
            assert await tail.read() == data[-100:]
        async with http.get(download, params={"token": "v1.bogus.token"}) as forged:
            assert forged.status == 401
        async with http.get(download, params={"token": directory}) as archive:
            assert archive.headers["Content-Type"] == "application/zip"
            with zipfile.ZipFile(io.BytesIO(await archive.read())) as zipped:
                assert zipped.read("blob.bin") == data

    # Tokens are only issued to who may use the folder: another user learns nothing.
    async with ShipyardClient(platform.endpoint, mallory.access_key, mallory.secret_key) as m:
        with pytest.raises(ApiError) as refused:
            await m.request(
                "POST", f"/v1/vfolders/{folder}/files:download-token", body={"path": "set"}
            )
        assert refused.value.status == 404


async def test_a_token_stops_working_once_its_user_loses_the_folder(platform: Platform) -> None:
    bob_email = f"bob-{secrets.token_hex(3)}@example.com"
    alice, bob = await ordinary_user(platform), await ordinary_user(platform, bob_email)
    edge = platform.endpoint.rstrip("/")
    async with (
        ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as a,
        ShipyardClient(platform.endpoint, bob.access_key, bob.secret_key) as b,
        aiohttp.ClientSession() as http,
    ):
        folder = (await a.create_vfolder(f"h-{secrets.token_hex(3)}"))["vfolder_id"]
        await a.request("POST", f"/v1/vfolders/{folder}/files:mkdir", body={"path": "set"})
        invited = await a.request(
            "POST",
            f"/v1/vfolders/{folder}:invite",
            body={"emails": [bob_email], "permission": "MOUNT_PERMISSION_READ_WRITE"},
        )
        invitation = invited["invitations"][0]["invitation_id"]
        await b.request("POST", f"/v1/vfolder-invitations/{invitation}:accept", body={})
        download = (
            await b.request(
                "POST", f"/v1/vfolders/{folder}/files:download-token", body={"path": "set"}
            )
        )["token"]
        upload = (
            await b.request(
                "POST",
                f"/v1/vfolders/{folder}/files:upload-session",
                body={"path": "set/late.txt", "size": "0"},
            )
        )["token"]
        zipped = f"{edge}/v1/storage/transfers/download"
        async with http.get(zipped, params={"token": download}) as shared:
            assert shared.status == 200

        await a.request("POST", f"/v1/vfolders/{folder}:unshare", body={"emails": [bob_email]})

        # Both tokens are still unexpired and well signed, but bob may no longer use the folder.
        async with http.get(zipped, params={"token": download}) as revoked:
            assert revoked.status == 404, await revoked.text()
        async with http.post(
            f"{edge}/v1/storage/transfers/uploads",
            params={"token": upload},
            headers={**TUS, "Upload-Length": "0"},
        ) as refused:
            assert refused.status == 404, await refused.text()
        listed = await a.request("GET", f"/v1/vfolders/{folder}/files", params={"path": "set"})
        assert listed.get("files", []) == []
