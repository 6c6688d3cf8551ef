"""tus uploads and Range downloads over the storage service's HTTP endpoints, against a real
volume and PostgreSQL, with tokens issued through the gRPC API."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
import zipfile
from collections.abc import AsyncIterator

import aiohttp
import pytest
from shipyard.storage.v1 import file_service_pb2 as fpb
from shipyard.storage.v1 import vfolder_service_pb2 as pb

from tests.integration.storage.helpers import user

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


async def _folder(storage, metadata) -> str:
    made = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"h-{secrets.token_hex(4)}"), metadata=metadata
    )
    return str(made.vfolder.vfolder_id)


def _base(storage) -> str:
    return f"http://127.0.0.1:{storage.server.http_port}/v1/storage/transfers"


async def _upload_token(storage, me, folder_id: str, path: str, size: int) -> str:
    issued = await storage.files.CreateUploadSession(
        fpb.CreateUploadSessionRequest(vfolder_id=folder_id, path=path, size=size), metadata=me
    )
    return str(issued.token)


async def _download_token(storage, me, folder_id: str, path: str) -> str:
    issued = await storage.files.CreateDownloadToken(
        fpb.CreateDownloadTokenRequest(vfolder_id=folder_id, path=path), metadata=me
    )
    return str(issued.token)


async def _create(http: aiohttp.ClientSession, storage, token: str, size: int) -> str:
    async with http.post(
        f"{_base(storage)}/uploads",
        params={"token": token},
        headers={**TUS, "Upload-Length": str(size)},
    ) as reply:
        assert reply.status == 201, await reply.text()
        return f"http://127.0.0.1:{storage.server.http_port}{reply.headers['Location']}"


async def _patch(http: aiohttp.ClientSession, url: str, offset: int, data: object):
    headers = {
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }
    body = io.BytesIO(data) if isinstance(data, bytes) else data
    return await http.patch(url, data=body, headers=headers)


async def test_a_tus_upload_in_pieces_gives_the_same_bytes_back_whole_and_by_range(
    storage,
) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage, me)
    data = os.urandom(3 * MiB + 17)
    token = await _upload_token(storage, me, folder_id, "dir/model.bin", len(data))
    await storage.files.MakeDirectory(
        fpb.MakeDirectoryRequest(vfolder_id=folder_id, path="dir"), metadata=me
    )
    async with aiohttp.ClientSession() as http:
        url = await _create(http, storage, token, len(data))
        first = await _patch(http, url, 0, data[: 2 * MiB])
        assert (first.status, first.headers["Upload-Offset"]) == (204, str(2 * MiB))
        # A client that lost track of the offset is told where to resume.
        wrong = await _patch(http, url, 5, data[5:])
        assert wrong.status == 409
        assert wrong.headers["Upload-Offset"] == str(2 * MiB)
        async with http.head(url, headers=TUS) as head:
            assert head.headers["Upload-Offset"] == str(2 * MiB)
            assert head.headers["Upload-Length"] == str(len(data))
        rest = await _patch(http, url, 2 * MiB, data[2 * MiB :])
        assert (rest.status, rest.headers["Upload-Offset"]) == (204, str(len(data)))

        download = await _download_token(storage, me, folder_id, "dir/model.bin")
        async with http.get(f"{_base(storage)}/download", params={"token": download}) as whole:
            assert whole.status == 200
            assert whole.headers["Accept-Ranges"] == "bytes"
            assert "model.bin" in whole.headers["Content-Disposition"]
            assert hashlib.sha256(await whole.read()).digest() == hashlib.sha256(data).digest()
        ranged = {"Range": "bytes=1048570-1048589"}
        async with http.get(
            f"{_base(storage)}/download", params={"token": download}, headers=ranged
        ) as part:
            assert part.status == 206
            assert part.headers["Content-Range"] == f"bytes 1048570-1048589/{len(data)}"
            assert await part.read() == data[1048570:1048590]
        beyond = {"Range": f"bytes={len(data)}-"}
        async with http.get(
            f"{_base(storage)}/download", params={"token": download}, headers=beyond
        ) as refused:
            assert refused.status == 416
            assert refused.headers["Content-Range"] == f"bytes */{len(data)}"


async def test_an_upload_cut_off_mid_request_resumes_from_what_was_stored(storage) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage, me)
    data = os.urandom(6 * MiB)
    token = await _upload_token(storage, me, folder_id, "cut.bin", len(data))
    async with aiohttp.ClientSession() as http:
        url = await _create(http, storage, token, len(data))
        sent = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield data[: 5 * MiB]
            sent.set()
            await asyncio.sleep(3600)  # the connection dies before the rest

        request = asyncio.create_task(_patch(http, url, 0, body()))
        await sent.wait()
        stored = 0
        for _ in range(200):  # the service flushes what it received
            async with http.head(url, headers=TUS) as head:
                stored = int(head.headers["Upload-Offset"])
            if stored >= 4 * MiB:
                break
            await asyncio.sleep(0.05)
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        for _ in range(200):  # until no piece of the cut request lands after our HEAD
            async with http.head(url, headers=TUS) as head:
                stored = int(head.headers["Upload-Offset"])
            resumed = await _patch(http, url, stored, data[stored:])
            if resumed.status != 409:
                break
            await asyncio.sleep(0.05)
        assert 0 < stored < len(data)
        assert resumed.status == 204, await resumed.text()
        download = await _download_token(storage, me, folder_id, "cut.bin")
        async with http.get(f"{_base(storage)}/download", params={"token": download}) as whole:
            assert await whole.read() == data


async def test_tokens_open_only_their_own_transfer(storage) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage, me)
    upload = await _upload_token(storage, me, folder_id, "a.txt", 4)
    async with aiohttp.ClientSession() as http:
        url = await _create(http, storage, upload, 4)
        assert (await _patch(http, url, 0, b"abcd")).status == 204
        # An upload token does not download; a forged one opens nothing.
        async with http.get(f"{_base(storage)}/download", params={"token": upload}) as reply:
            assert reply.status == 401
        forged = upload[:-4] + ("AAAA" if not upload.endswith("AAAA") else "BBBB")
        async with http.head(f"{_base(storage)}/uploads/{forged}", headers=TUS) as reply:
            assert reply.status == 401
        async with http.get(f"{_base(storage)}/download") as reply:
            assert reply.status == 400
            assert (await reply.json())["violations"][0]["field"] == "token"
        # The file was written once; a second upload of it does not replace it.
        again = await _upload_token(storage, me, folder_id, "a.txt", 4)
        url = await _create(http, storage, again, 4)
        clash = await _patch(http, url, 0, b"wxyz")
        assert clash.status == 409
        download = await _download_token(storage, me, folder_id, "a.txt")
        async with http.get(f"{_base(storage)}/download", params={"token": download}) as reply:
            assert await reply.read() == b"abcd"


async def test_tus_requests_are_checked_and_refused_with_the_reason(storage) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage, me)
    token = await _upload_token(storage, me, folder_id, "b.bin", 10)
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{_base(storage)}/uploads") as reply:
            assert reply.status == 204
            assert reply.headers["Tus-Version"] == "1.0.0"
            assert "creation" in reply.headers["Tus-Extension"]
        async with http.post(
            f"{_base(storage)}/uploads", params={"token": token}, headers={"Upload-Length": "10"}
        ) as reply:
            assert reply.status == 412  # no Tus-Resumable
        async with http.post(
            f"{_base(storage)}/uploads",
            params={"token": token},
            headers={**TUS, "Upload-Length": "11"},
        ) as reply:
            assert reply.status == 400
            assert (await reply.json())["violations"][0]["field"] == "Upload-Length"
        url = await _create(http, storage, token, 10)
        plain = await http.patch(url, data=b"0123456789", headers={**TUS, "Upload-Offset": "0"})
        assert plain.status == 415
        too_long = await _patch(http, url, 0, b"0123456789AB")
        assert too_long.status == 400


async def test_a_directory_downloads_as_a_zip_of_its_files_and_never_what_links_point_to(
    storage, tmp_path
) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage, me)
    files = {"data/a.txt": b"alpha", "data/sub/b.bin": os.urandom(3 * MiB), "data/sub/c": b""}
    async with aiohttp.ClientSession() as http:
        for path, content in files.items():
            parent = path.rsplit("/", 1)[0]
            await storage.files.MakeDirectory(
                fpb.MakeDirectoryRequest(
                    vfolder_id=folder_id, path=parent, parents=True, exist_ok=True
                ),
                metadata=me,
            )
            url = await _create(
                http,
                storage,
                await _upload_token(storage, me, folder_id, path, len(content)),
                len(content),
            )
            if content:
                assert (await _patch(http, url, 0, content)).status == 204
        secret = tmp_path / "outside.txt"
        secret.write_text("not yours")
        folder_dir = next(storage.volume_root.glob(f"*/{folder_id}"))
        (folder_dir / "data" / "escape").symlink_to(secret)
        (folder_dir / "data" / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)

        token = await _download_token(storage, me, folder_id, "data")
        async with http.get(f"{_base(storage)}/download", params={"token": token}) as reply:
            assert reply.status == 200
            assert reply.headers["Content-Type"] == "application/zip"
            assert "data.zip" in reply.headers["Content-Disposition"]
            body = await reply.read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert sorted(archive.namelist()) == ["a.txt", "sub/b.bin", "sub/c"]
            for path, content in files.items():
                assert archive.read(path.removeprefix("data/")) == content
        missing = await _download_token(storage, me, folder_id, "nothing-here")
        async with http.get(f"{_base(storage)}/download", params={"token": missing}) as reply:
            assert reply.status == 404
