"""Big files through the edge's gRPC streams as ordinary users: an upload cut off midway is
resumed by the CLI to a byte-identical file, downloads resume from a partial file, a byte range
comes back exactly, and another user reaches nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from pathlib import Path

import grpc
import pytest
from shipyard.storage.v1 import file_service_pb2 as fpb
from shipyard.storage.v1 import file_service_pb2_grpc as fpb_grpc

from cli.client import ShipyardClient
from cli.grpc_signing import signed_channel
from cli.platform import Platform
from cli.vfolder_transfer import download_file, upload_file
from tests.e2e.cli_as_user import cli_as, cli_ok
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_an_interrupted_upload_resumes_through_the_edge(
    platform: Platform, tmp_path: Path
) -> None:
    alice, mallory = await ordinary_user(platform), await ordinary_user(platform)
    address = f"127.0.0.1:{platform.config.edge_port}"
    name = f"t-{secrets.token_hex(3)}"
    async with ShipyardClient(platform.endpoint, alice.access_key, alice.secret_key) as c:
        folder = (await c.create_vfolder(name))["vfolder_id"]
    local = tmp_path / "data.bin"
    local.write_bytes(os.urandom(9 * MiB + 17))
    size = local.stat().st_size

    async with signed_channel(address, alice.access_key, alice.secret_key) as channel:
        files = fpb_grpc.FileServiceStub(channel)
        # A first attempt dies after 4 MiB (the client goes away mid-stream).
        head = local.read_bytes()[: 4 * MiB]

        async def cut_off():
            yield fpb.UploadRequest(
                header=fpb.UploadHeader(vfolder_id=folder, path="data.bin", size=size)
            )
            for start in range(0, len(head), MiB):
                yield fpb.UploadRequest(chunk=head[start : start + MiB])
            await asyncio.sleep(3600)

        call = files.Upload(cut_off())
        asking = fpb.GetUploadOffsetRequest(vfolder_id=folder, path="data.bin", size=size)
        async with asyncio.timeout(60):
            for _ in range(600):
                if (await files.GetUploadOffset(asking)).offset >= len(head):
                    break
                await asyncio.sleep(0.1)
        call.cancel()
        assert (await files.GetUploadOffset(asking)).offset == len(head)

    # The CLI resumes it and downloads it back.
    code, _, err = await cli_as(platform, alice, "vfolder", "upload", name, str(local))
    assert code == 0, err
    assert "resuming at byte" in err
    back = tmp_path / "back.bin"
    await cli_ok(platform, alice, "vfolder", "download", name, "data.bin", str(back))
    assert _digest(back) == _digest(local)
    usage = await cli_ok(platform, alice, "vfolder", "usage", name)
    assert "in 1 entries" in usage
    quota = await cli_ok(platform, alice, "vfolder", "quota")
    assert "of unlimited" in quota
    assert int(quota.split(": ")[1].split()[0]) >= size
    refused, _, _ = await cli_as(platform, alice, "vfolder", "quota", "--set", "1")
    assert refused != 0  # only superadmins set limits
    cloned = await cli_ok(platform, alice, "vfolder", "clone", name, f"{name}-copy")
    assert cloned.split()[1:3] == [f"{name}-copy", "done"]
    copy_back = tmp_path / "copy.bin"
    await cli_ok(platform, alice, "vfolder", "download", f"{name}-copy", "data.bin", str(copy_back))
    assert _digest(copy_back) == _digest(local)

    async with signed_channel(address, alice.access_key, alice.secret_key) as channel:
        files = fpb_grpc.FileServiceStub(channel)
        # A download continues from a partial file already on disk.
        again = tmp_path / "again.bin"
        (tmp_path / "again.bin.part").write_bytes(local.read_bytes()[: 3 * MiB])
        assert await download_file(files, folder, "data.bin", again) == size
        assert _digest(again) == _digest(local)
        ranged = files.Download(
            fpb.DownloadRequest(vfolder_id=folder, path="data.bin", offset=MiB - 3, length=6)
        )
        assert b"".join([m.chunk async for m in ranged]) == local.read_bytes()[MiB - 3 : MiB + 3]

    async with signed_channel(address, mallory.access_key, mallory.secret_key) as channel:
        files = fpb_grpc.FileServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await upload_file(files, folder, local, "evil.bin")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await download_file(files, folder, "data.bin", tmp_path / "stolen.bin")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
