"""Streaming Upload/Download and transfer tokens against a real volume and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
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
from services.storage.domain import transfer_token as tt
from tests.integration.storage.helpers import error_info, user

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


async def _folder(vfolders, metadata) -> str:
    made = await vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"t-{secrets.token_hex(4)}"), metadata=metadata
    )
    return str(made.vfolder.vfolder_id)


def _stream(folder_id: str, path: str, data: bytes, *, size: int, offset: int = 0, **kw):
    yield fpb.UploadRequest(
        header=fpb.UploadHeader(vfolder_id=folder_id, path=path, size=size, offset=offset, **kw)
    )
    for start in range(0, len(data), MiB):
        yield fpb.UploadRequest(chunk=data[start : start + MiB])


async def _download(files, metadata, folder_id: str, path: str, **kw) -> bytes:
    call = files.Download(
        fpb.DownloadRequest(vfolder_id=folder_id, path=path, **kw), metadata=metadata
    )
    return b"".join([m.chunk async for m in call])


async def test_an_upload_cut_off_midway_resumes_to_a_byte_identical_file(storage) -> None:
    owner = user()
    me = storage.as_caller(owner)
    folder_id = await _folder(storage.vfolders, me)
    data = os.urandom(5 * MiB + 123)

    async def first_part() -> AsyncIterator[fpb.UploadRequest]:
        for message in _stream(folder_id, "big.bin", data[: 3 * MiB], size=len(data)):
            yield message
        await asyncio.sleep(3600)  # the connection dies before the rest

    call = storage.files.Upload(first_part(), metadata=me)
    size = len(data)
    offset_request = fpb.GetUploadOffsetRequest(vfolder_id=folder_id, path="big.bin", size=size)
    for _ in range(200):
        got = await storage.files.GetUploadOffset(offset_request, metadata=me)
        if got.offset == 3 * MiB:
            break
        await asyncio.sleep(0.05)
    call.cancel()
    assert (await storage.files.GetUploadOffset(offset_request, metadata=me)).offset == 3 * MiB
    listing = await storage.files.ListFiles(fpb.ListFilesRequest(vfolder_id=folder_id), metadata=me)
    assert "big.bin" not in [e.name for e in listing.entries]

    done = await storage.files.Upload(
        _stream(folder_id, "big.bin", data[3 * MiB :], size=size, offset=3 * MiB), metadata=me
    )
    assert (done.offset, done.complete) == (size, True)
    got = await _download(storage.files, me, folder_id, "big.bin")
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    middle = await _download(storage.files, me, folder_id, "big.bin", offset=MiB - 5, length=10)
    assert middle == data[MiB - 5 : MiB + 5]


async def test_a_wrong_resume_offset_is_refused_with_the_stored_one(storage) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage.vfolders, me)
    part = await storage.files.Upload(_stream(folder_id, "a", b"abc", size=10), metadata=me)
    assert (part.offset, part.complete) == (3, False)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.files.Upload(_stream(folder_id, "a", b"xyz", size=10, offset=5), metadata=me)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(err.value)
    assert (info.reason, info.metadata["offset"]) == ("UPLOAD_OFFSET_MISMATCH", "3")


async def test_an_existing_file_is_replaced_only_with_overwrite(storage) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage.vfolders, me)
    await storage.files.Upload(_stream(folder_id, "a", b"old", size=3), metadata=me)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.files.Upload(_stream(folder_id, "a", b"new", size=3), metadata=me)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await _download(storage.files, me, folder_id, "a") == b"old"
    await storage.files.Upload(_stream(folder_id, "a", b"new", size=3, overwrite=True), metadata=me)
    assert await _download(storage.files, me, folder_id, "a") == b"new"


async def test_other_users_neither_upload_nor_download_nor_get_tokens(storage) -> None:
    me, stranger = storage.as_caller(user()), storage.as_caller(user())
    folder_id = await _folder(storage.vfolders, me)
    await storage.files.Upload(_stream(folder_id, "a", b"secret", size=6), metadata=me)
    calls = [
        storage.files.Upload(_stream(folder_id, "b", b"x", size=1), metadata=stranger),
        _download(storage.files, stranger, folder_id, "a"),
        storage.files.CreateDownloadToken(
            fpb.CreateDownloadTokenRequest(vfolder_id=folder_id, path="a"), metadata=stranger
        ),
        storage.files.CreateUploadSession(
            fpb.CreateUploadSessionRequest(vfolder_id=folder_id, path="b", size=1),
            metadata=stranger,
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert _names(_folder_dir(storage.volume_root, folder_id)) == ["a"]


async def test_escapes_and_bad_headers_are_refused(storage, tmp_path: Path) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage.vfolders, me)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    (_folder_dir(storage.volume_root, folder_id) / "out").symlink_to(outside)
    for path in ("../x", "out/x"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await storage.files.Upload(_stream(folder_id, path, b"x", size=1), metadata=me)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _download(storage.files, me, folder_id, "out/secret")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _names(outside) == ["secret"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.files.Upload(iter([fpb.UploadRequest(chunk=b"x")]), metadata=me)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_issued_tokens_name_the_transfer_and_the_caller(storage) -> None:
    owner = user()
    me = storage.as_caller(owner)
    folder_id = await _folder(storage.vfolders, me)
    issued = await storage.files.CreateUploadSession(
        fpb.CreateUploadSessionRequest(vfolder_id=folder_id, path="d/x", size=7), metadata=me
    )
    version, _payload, _mac = issued.token.split(".")
    assert version == "v1"
    assert issued.expire_time.seconds > 0
    download = await storage.files.CreateDownloadToken(
        fpb.CreateDownloadTokenRequest(vfolder_id=folder_id, path="d/x"), metadata=me
    )
    assert download.token != issued.token
    # The service's own verifier accepts them for their kind only.
    transfers = storage.server.transfers
    grant = transfers.verify(issued.token, tt.TransferKind.UPLOAD)
    assert (grant.vfolder_id, grant.path, grant.size, grant.user_id) == (
        folder_id,
        "d/x",
        7,
        owner.user_id,
    )
    with pytest.raises(tt.InvalidTransferToken):
        transfers.verify(issued.token, tt.TransferKind.DOWNLOAD)


async def test_uploads_without_a_caller_or_with_oversized_chunks_are_refused(storage) -> None:
    me = storage.as_caller(user())
    folder_id = await _folder(storage.vfolders, me)
    anonymous = ((me[0]),)  # the internal token, no identity
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.files.Upload(_stream(folder_id, "a", b"x", size=1), metadata=anonymous)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    too_big = [
        fpb.UploadRequest(header=fpb.UploadHeader(vfolder_id=folder_id, path="a", size=1)),
        fpb.UploadRequest(chunk=b"x" * (2 * MiB + 1)),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.files.Upload(iter(too_big), metadata=me)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "a" not in _names(_folder_dir(storage.volume_root, folder_id))


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _folder_dir(volume_root: Path, folder_id: str) -> Path:
    return volume_root / folder_id[:2] / folder_id


@contextlib.contextmanager
def _small_filesystem(path: Path, size: str) -> Iterator[None]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


async def test_a_full_volume_fails_the_upload_and_keeps_what_was_there(
    database_url, internal_token, tmp_path: Path
) -> None:
    volume = tmp_path / "small"
    with _small_filesystem(volume, "4m"):
        server = await serve(
            Settings(
                internal_token=internal_token,
                database_url=database_url,
                bind="127.0.0.1:0",
                http_bind="127.0.0.1:0",
                folder_policy=False,  # no auth here
                volume_root=volume,
            )
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        try:
            files = file_service_pb2_grpc.FileServiceStub(channel)
            owner: Caller = user()
            me = ((HEADER_INTERNAL_TOKEN, internal_token), *caller_to_headers(owner).items())
            folder_id = await _folder(pb_grpc.VFolderServiceStub(channel), me)
            kept = os.urandom(MiB)
            await files.Upload(_stream(folder_id, "kept", kept, size=MiB), metadata=me)
            big = os.urandom(8 * MiB)
            for _ in range(20):  # the race between the refusal and our sending, many times
                call = files.Upload(
                    _stream(folder_id, "kept", big, size=len(big), overwrite=True), metadata=me
                )
                with pytest.raises(grpc.aio.AioRpcError):
                    await call
                assert await call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "QUOTA_EXCEEDED" in str(await call.trailing_metadata())
            assert await _download(files, me, folder_id, "kept") == kept
        finally:
            await channel.close()
            await server.stop(grace=0)
