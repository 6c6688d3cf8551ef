"""Quota scopes: superadmins set a limit per user or project on a volume, owners read their
usage, and an upload that would not fit is refused before a byte is stored."""

from __future__ import annotations

import os
import secrets
import uuid

import grpc
import pytest
from shipyard.storage.v1 import file_service_pb2 as fpb
from shipyard.storage.v1 import vfolder_service_pb2 as pb

from libs.core.identity import Role
from tests.integration.storage.helpers import error_info, user

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def _upload(folder_id: str, path: str, data: bytes, **kw):
    header = fpb.UploadHeader(vfolder_id=folder_id, path=path, size=len(data), **kw)
    yield fpb.UploadRequest(header=header)
    for start in range(0, len(data), MiB):
        yield fpb.UploadRequest(chunk=data[start : start + MiB])


async def test_a_limited_user_scope_refuses_what_does_not_fit(storage) -> None:
    owner, root = user(), user(Role.SUPERADMIN)
    me, admin = storage.as_caller(owner), storage.as_caller(root)
    scope = f"user:{owner.user_id}"
    made = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"q-{secrets.token_hex(3)}"), metadata=me
    )
    folder_id = made.vfolder.vfolder_id
    first = os.urandom(2 * MiB)
    await storage.files.Upload(_upload(folder_id, "first", first), metadata=me)

    limit = 3 * MiB
    set_ = await storage.vfolders.SetQuotaScope(
        pb.SetQuotaScopeRequest(scope_id=scope, limit_bytes=limit), metadata=admin
    )
    assert (set_.quota_scope.limit_bytes, set_.quota_scope.volume) == (limit, "local")
    seen = await storage.vfolders.GetQuotaScope(
        pb.GetQuotaScopeRequest(scope_id=scope), metadata=me
    )
    assert seen.quota_scope.limit_bytes == limit
    assert 2 * MiB <= seen.quota_scope.used_bytes < 2 * MiB + 64 * 1024

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.files.Upload(_upload(folder_id, "second", os.urandom(2 * MiB)), metadata=me)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_info(err.value)
    assert (info.reason, info.metadata["scope_id"]) == ("QUOTA_EXCEEDED", scope)
    listing = await storage.files.ListFiles(fpb.ListFilesRequest(vfolder_id=folder_id), metadata=me)
    assert [e.name for e in listing.entries] == ["first"]
    back = storage.files.Download(
        fpb.DownloadRequest(vfolder_id=folder_id, path="first"), metadata=me
    )
    assert b"".join([m.chunk async for m in back]) == first

    # What fits still goes in; lifting the limit lets the rest in.
    await storage.files.Upload(_upload(folder_id, "small", os.urandom(MiB // 2)), metadata=me)
    await storage.vfolders.SetQuotaScope(
        pb.SetQuotaScopeRequest(scope_id=scope, limit_bytes=0), metadata=admin
    )
    await storage.files.Upload(_upload(folder_id, "second", os.urandom(2 * MiB)), metadata=me)


async def test_only_superadmins_set_limits_and_owners_read_their_own(storage) -> None:
    owner, other, admin = user(), user(), user(Role.ADMIN)
    scope = f"user:{owner.user_id}"
    for caller in (owner, admin):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await storage.vfolders.SetQuotaScope(
                pb.SetQuotaScopeRequest(scope_id=scope, limit_bytes=1),
                metadata=storage.as_caller(caller),
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.GetQuotaScope(
            pb.GetQuotaScopeRequest(scope_id=scope), metadata=storage.as_caller(other)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    mine = await storage.vfolders.GetQuotaScope(
        pb.GetQuotaScopeRequest(scope_id=scope), metadata=storage.as_caller(owner)
    )
    assert (mine.quota_scope.limit_bytes, mine.quota_scope.used_bytes) == (0, 0)


async def test_bad_scopes_and_volumes_are_refused_naming_the_field(storage) -> None:
    admin = storage.as_caller(user(Role.SUPERADMIN))
    for request, field in (
        (pb.SetQuotaScopeRequest(scope_id="group:x", limit_bytes=1), "scope_id"),
        (pb.SetQuotaScopeRequest(scope_id=f"user:{uuid.uuid4()}", limit_bytes=-1), "limit_bytes"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await storage.vfolders.SetQuotaScope(request, metadata=admin)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.SetQuotaScope(
            pb.SetQuotaScopeRequest(volume="nowhere", scope_id=f"user:{uuid.uuid4()}"),
            metadata=admin,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
