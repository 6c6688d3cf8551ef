"""Big files through the edge's gRPC streams as ordinary users: an upload cut off midway is
resumed by the CLI to a byte-identical file, downloads resume from a partial file, a byte range
comes back exactly, and another user reaches nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from shipyard.storage.v1 import file_service_pb2 as fpb
from shipyard.storage.v1 import file_service_pb2_grpc as fpb_grpc

from cli.client import ShipyardClient
from cli.grpc_signing import signed_channel
from cli.platform import Platform
from cli.vfolder_transfer import download_file, upload_file
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
    env = os.environ | {
        "SHIPYARD_ENDPOINT": platform.endpoint,
        "SHIPYARD_ACCESS_KEY": alice.access_key,
        "SHIPYARD_SECRET_KEY": alice.secret_key,
    }
    cli = [sys.executable, "-m", "cli", "vfolder"]
    up = subprocess.run(
        [*cli, "upload", name, str(local)], env=env, capture_output=True, text=True, check=False
    )
    assert up.returncode == 0, up.stderr
    assert "resuming at byte" in up.stderr
    back = tmp_path / "back.bin"
    down = subprocess.run(
        [*cli, "download", name, "data.bin", str(back)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert down.returncode == 0, down.stderr
    assert _digest(back) == _digest(local)
    usage = subprocess.run(
        [*cli, "usage", name], env=env, capture_output=True, text=True, check=False
    )
    assert usage.returncode == 0, usage.stderr
    assert "in 1 entries" in usage.stdout
    quota = subprocess.run([*cli, "quota"], env=env, capture_output=True, text=True, check=False)
    assert quota.returncode == 0, quota.stderr
    assert "of unlimited" in quota.stdout
    assert int(quota.stdout.split(": ")[1].split()[0]) >= size
    refused = subprocess.run(
        [*cli, "quota", "--set", "1"], env=env, capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0  # only superadmins set limits
    cloned = subprocess.run(
        [*cli, "clone", name, f"{name}-copy"], env=env, capture_output=True, text=True, check=False
    )
    assert cloned.returncode == 0, cloned.stderr
    assert cloned.stdout.split()[1:3] == [f"{name}-copy", "done"]
    copy_back = tmp_path / "copy.bin"
    fetched = subprocess.run(
        [*cli, "download", f"{name}-copy", "data.bin", str(copy_back)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stderr
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
