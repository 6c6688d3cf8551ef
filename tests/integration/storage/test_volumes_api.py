"""Several volumes per storage service: listing them with capacity, folders on each, usage."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from shipyard.storage.v1 import file_service_pb2 as fpb
from shipyard.storage.v1 import file_service_pb2_grpc
from shipyard.storage.v1 import vfolder_service_pb2 as pb
from shipyard.storage.v1 import vfolder_service_pb2_grpc as pb_grpc

from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, caller_to_headers
from services.storage.app import serve
from services.storage.config import Settings
from tests.integration.storage.helpers import user

pytestmark = pytest.mark.integration


@pytest.fixture
async def two_volumes(database_url, internal_token, tmp_path: Path) -> AsyncIterator[tuple]:
    volumes = [
        {"name": "fast", "backend": "vfs", "root": str(tmp_path / "fast")},
        {"name": "bulk", "backend": "vfs", "root": str(tmp_path / "bulk")},
    ]
    server = await serve(
        Settings(
            internal_token=internal_token,
            database_url=database_url,
            bind="127.0.0.1:0",
            http_bind="127.0.0.1:0",
            folder_policy=False,  # no auth here
            volumes=json.dumps(volumes),
            default_volume="bulk",
        )
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield (
            pb_grpc.VFolderServiceStub(channel),
            file_service_pb2_grpc.FileServiceStub(channel),
            tmp_path,
            internal_token,
        )
    finally:
        await channel.close()
        await server.stop(grace=0)


def _as(token: str, caller: Caller) -> tuple[tuple[str, str], ...]:
    return ((HEADER_INTERNAL_TOKEN, token), *caller_to_headers(caller).items())


async def test_folders_land_on_the_volume_they_name_or_the_default(two_volumes) -> None:
    vfolders, _files, root, token = two_volumes
    me = _as(token, user())
    listed = await vfolders.ListVolumes(pb.ListVolumesRequest(), metadata=me)
    by_name = {v.name: v for v in listed.volumes}
    assert sorted(by_name) == ["bulk", "fast"]
    assert by_name["bulk"].is_default and not by_name["fast"].is_default
    assert by_name["fast"].backend == "vfs"
    assert set(by_name["fast"].capabilities) == {"capacity", "usage"}
    assert by_name["fast"].capacity_bytes > 0
    assert 0 < by_name["fast"].used_bytes <= by_name["fast"].capacity_bytes

    on_fast = await vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"a-{secrets.token_hex(3)}", volume="fast"), metadata=me
    )
    on_default = await vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"b-{secrets.token_hex(3)}"), metadata=me
    )
    fast_id, default_id = on_fast.vfolder.vfolder_id, on_default.vfolder.vfolder_id
    assert (on_fast.vfolder.volume, on_default.vfolder.volume) == ("fast", "bulk")
    assert (root / "fast" / fast_id[:2] / fast_id).is_dir()
    assert (root / "bulk" / default_id[:2] / default_id).is_dir()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await vfolders.CreateVFolder(
            pb.CreateVFolderRequest(name="c", volume="nowhere"), metadata=me
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_usage_counts_bytes_and_files_for_those_who_see_the_folder(two_volumes) -> None:
    vfolders, files, root, token = two_volumes
    me, stranger = _as(token, user()), _as(token, user())
    made = await vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"u-{secrets.token_hex(3)}", volume="fast"), metadata=me
    )
    folder_id = made.vfolder.vfolder_id
    empty = await vfolders.GetVFolderUsage(
        pb.GetVFolderUsageRequest(vfolder_id=folder_id), metadata=me
    )
    assert (empty.used_bytes, empty.file_count) == (0, 0)
    await files.MakeDirectory(fpb.MakeDirectoryRequest(vfolder_id=folder_id, path="d"), metadata=me)
    data = os.urandom(3 * 1024 * 1024)
    header = fpb.UploadHeader(vfolder_id=folder_id, path="d/x", size=len(data))
    await files.Upload(
        iter(
            [
                fpb.UploadRequest(header=header),
                fpb.UploadRequest(chunk=data[:2_000_000]),
                fpb.UploadRequest(chunk=data[2_000_000:]),
            ]
        ),
        metadata=me,
    )
    folder_dir = root / "fast" / folder_id[:2] / folder_id
    os.link(folder_dir / "d" / "x", folder_dir / "hard")  # one file, two names
    (folder_dir / "out").symlink_to("/usr")  # never followed
    usage = await vfolders.GetVFolderUsage(
        pb.GetVFolderUsageRequest(vfolder_id=folder_id), metadata=me
    )
    assert usage.file_count == 4  # d, d/x, hard, out
    assert len(data) <= usage.used_bytes < len(data) + 64 * 1024
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await vfolders.GetVFolderUsage(
            pb.GetVFolderUsageRequest(vfolder_id=folder_id), metadata=stranger
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
