from __future__ import annotations

import grpc
import pytest
from shipyard.storage.v1 import file_service_pb2 as file_pb
from shipyard.storage.v1 import vfolder_service_pb2 as pb

from libs.core.identity import Role
from tests.integration.storage.helpers import error_info, user

pytestmark = pytest.mark.integration


async def _create(storage, caller, name: str) -> pb.VFolder:
    response = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=name), metadata=storage.as_caller(caller)
    )
    return response.vfolder


async def test_resolve_returns_host_paths_in_request_order(storage):
    alice = user()
    a = await _create(storage, alice, "a")
    b = await _create(storage, alice, "b")
    response = await storage.mounts.ResolveMounts(
        pb.ResolveMountsRequest(user_id=alice.user_id, names=["b", "a"]),
        metadata=storage.as_system(),
    )
    root = storage.volume_root.resolve()
    assert [(m.name, m.vfolder_id, m.host_path) for m in response.mounts] == [
        ("b", b.vfolder_id, str(root / b.vfolder_id[:2] / b.vfolder_id)),
        ("a", a.vfolder_id, str(root / a.vfolder_id[:2] / a.vfolder_id)),
    ]


async def test_resolve_reports_exactly_the_missing_names(storage):
    alice, bob = user(), user()
    await _create(storage, alice, "have")
    await _create(storage, bob, "bobs")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.mounts.ResolveMounts(
            pb.ResolveMountsRequest(user_id=alice.user_id, names=["nope", "have", "bobs"]),
            metadata=storage.as_system(),
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    info = error_info(err.value)
    assert info.reason == "VFOLDER_NOT_FOUND"
    assert dict(info.metadata) == {"names": "nope,bobs"}


@pytest.mark.parametrize("role", [Role.USER, Role.SUPERADMIN])
async def test_resolve_is_refused_to_user_callers(storage, role):
    caller = user(role)
    await _create(storage, caller, "mine")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.mounts.ResolveMounts(
            pb.ResolveMountsRequest(user_id=caller.user_id, names=["mine"]),
            metadata=storage.as_caller(caller),
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_folder_created_read_only_resolves_as_a_read_only_mount(storage):
    alice = user()
    created = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name="ref", permission=pb.MOUNT_PERMISSION_READ_ONLY),
        metadata=storage.as_caller(alice),
    )
    assert created.vfolder.permission == pb.MOUNT_PERMISSION_READ_ONLY
    plain = await _create(storage, alice, "scratch")
    assert plain.permission == pb.MOUNT_PERMISSION_READ_WRITE  # unspecified means read-write
    response = await storage.mounts.ResolveMounts(
        pb.ResolveMountsRequest(user_id=alice.user_id, names=["ref", "scratch"]),
        metadata=storage.as_system(),
    )
    assert [(m.name, m.read_only) for m in response.mounts] == [("ref", True), ("scratch", False)]


async def test_an_undefined_permission_is_refused_naming_the_field(storage):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.CreateVFolder(
            pb.CreateVFolderRequest(name="odd", permission=7), metadata=storage.as_caller(user())
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "permission" in (err.value.details() or "")


async def _make_dir(storage, caller, folder: pb.VFolder, path: str) -> None:
    await storage.files.MakeDirectory(
        file_pb.MakeDirectoryRequest(vfolder_id=folder.vfolder_id, path=path, parents=True),
        metadata=storage.as_caller(caller),
    )


async def test_a_subpath_mounts_that_directory_at_its_kernel_path(storage):
    alice = user()
    data = await _create(storage, alice, "data")
    await _make_dir(storage, alice, data, "sub/deeper")
    response = await storage.mounts.ResolveMounts(
        pb.ResolveMountsRequest(
            user_id=alice.user_id,
            mount_specs=["data/sub/deeper:/home/work/x", "data/sub:inputs/raw"],
        ),
        metadata=storage.as_system(),
    )
    root = storage.volume_root.resolve() / data.vfolder_id[:2] / data.vfolder_id
    assert [(m.host_path, m.kernel_path) for m in response.mounts] == [
        (str(root / "sub" / "deeper"), "/home/work/x"),
        (str(root / "sub"), "/home/work/inputs/raw"),
    ]


@pytest.mark.parametrize(
    ("names", "specs", "field"),
    [
        (["data"], ["data:/home/work/data/inner"], "mounts[0]"),  # inside another mount
        ([], ["data:/home/work/x", "data:x"], "mounts[1]"),  # the same path twice
        ([], ["data:/etc"], "mounts[0]"),  # outside the work directory
        ([], ["data:/home/work"], "mounts[0]"),  # the work directory itself
        ([], ["data:.ssh"], "mounts[0]"),  # a path kernels use themselves
        ([], ["data:../x"], "mounts[0]"),
    ],
)
async def test_refused_kernel_paths_name_the_mount(storage, names, specs, field):
    alice = user()
    await _create(storage, alice, "data")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.mounts.ResolveMounts(
            pb.ResolveMountsRequest(user_id=alice.user_id, names=names, mount_specs=specs),
            metadata=storage.as_system(),
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()


@pytest.mark.parametrize("spec", ["data/missing", "data/../other", "data/file.txt"])
async def test_a_subpath_must_be_a_directory_inside_the_folder(storage, spec):
    alice = user()
    await _create(storage, alice, "data")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.mounts.ResolveMounts(
            pb.ResolveMountsRequest(user_id=alice.user_id, mount_specs=[spec]),
            metadata=storage.as_system(),
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "mounts[0]" in err.value.details()
