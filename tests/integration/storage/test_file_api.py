"""FileService against a real volume directory and PostgreSQL: browsing, changing, no escapes."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

import grpc
import pytest
from shipyard.storage.v1 import file_service_pb2 as fpb
from shipyard.storage.v1 import vfolder_service_pb2 as pb

from libs.core.identity import Caller
from tests.integration.storage.helpers import error_info, user, violated_fields

pytestmark = pytest.mark.integration


@dataclasses.dataclass
class Folder:
    id: str
    path: Path  # its directory on the volume, as the test (the host) sees it


async def _folder(storage, owner: Caller, **fields) -> Folder:
    response = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=f"f-{secrets.token_hex(4)}", **fields),
        metadata=storage.as_caller(owner),
    )
    folder_id = response.vfolder.vfolder_id
    return Folder(folder_id, storage.volume_root / folder_id[:2] / folder_id)


async def _names(storage, caller, folder: Folder, path: str = "", page_size: int = 0) -> list[str]:
    names, token = [], ""
    while True:
        page = await storage.files.ListFiles(
            fpb.ListFilesRequest(
                vfolder_id=folder.id, path=path, page_size=page_size, page_token=token
            ),
            metadata=storage.as_caller(caller),
        )
        names += [e.name for e in page.entries]
        if not (token := page.next_page_token):
            return names


async def _refused(
    call, *, code: grpc.StatusCode, reason: str | None = None
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    if reason is not None:
        assert error_info(err.value).reason == reason
    return err.value


async def test_owner_makes_lists_moves_fetches_and_deletes(storage):
    owner = user()
    folder = await _folder(storage, owner)
    as_owner = storage.as_caller(owner)
    await storage.files.MakeDirectory(
        fpb.MakeDirectoryRequest(vfolder_id=folder.id, path="data/raw", parents=True),
        metadata=as_owner,
    )
    (folder.path / "data" / "raw" / "a.txt").write_text("hello")
    await storage.files.MoveFile(
        fpb.MoveFileRequest(
            vfolder_id=folder.id, source_path="data/raw/a.txt", destination_path="data/b.txt"
        ),
        metadata=as_owner,
    )
    listing = await storage.files.ListFiles(
        fpb.ListFilesRequest(vfolder_id=folder.id, path="data"), metadata=as_owner
    )
    kinds = {e.name: (e.type, e.size) for e in listing.entries}
    assert kinds == {"b.txt": (fpb.FILE_TYPE_FILE, 5), "raw": (fpb.FILE_TYPE_DIRECTORY, 4096)}
    fetched = await storage.files.FetchFile(
        fpb.FetchFileRequest(vfolder_id=folder.id, path="data/b.txt"), metadata=as_owner
    )
    assert fetched.content == b"hello"
    await storage.files.DeleteFiles(
        fpb.DeleteFilesRequest(vfolder_id=folder.id, paths=["data"], recursive=True),
        metadata=as_owner,
    )
    assert list(folder.path.iterdir()) == []


async def test_pages_of_a_directory_return_every_name_once_in_order(storage):
    owner = user()
    folder = await _folder(storage, owner)
    names = sorted(f"file-{i:03d}" for i in range(47))
    for name in names:
        (folder.path / name).touch()
    assert await _names(storage, owner, folder, page_size=10) == names


async def test_refusals_name_the_field_and_change_nothing(storage):
    owner = user()
    folder = await _folder(storage, owner)
    as_owner = storage.as_caller(owner)
    (folder.path / "dir").mkdir()
    (folder.path / "dir" / "keep").write_text("x")
    (folder.path / "taken").write_text("mine")
    (folder.path / "src").write_text("src")
    move = await _refused(
        storage.files.MoveFile(
            fpb.MoveFileRequest(vfolder_id=folder.id, source_path="src", destination_path="taken"),
            metadata=as_owner,
        ),
        code=grpc.StatusCode.ALREADY_EXISTS,
        reason="PATH_ALREADY_EXISTS",
    )
    assert "destination_path" in (move.details() or "")
    assert (folder.path / "taken").read_text() == "mine"
    await _refused(
        storage.files.DeleteFiles(
            fpb.DeleteFilesRequest(vfolder_id=folder.id, paths=["dir"]), metadata=as_owner
        ),
        code=grpc.StatusCode.FAILED_PRECONDITION,
        reason="DIRECTORY_NOT_EMPTY",
    )
    await _refused(
        storage.files.DeleteFiles(
            fpb.DeleteFilesRequest(vfolder_id=folder.id, paths=["src", "typo"]), metadata=as_owner
        ),
        code=grpc.StatusCode.NOT_FOUND,
        reason="PATH_NOT_FOUND",
    )
    assert (folder.path / "src").exists()  # nothing deleted when one path is wrong
    into_itself = await _refused(
        storage.files.MoveFile(
            fpb.MoveFileRequest(vfolder_id=folder.id, source_path="dir", destination_path="dir/x"),
            metadata=as_owner,
        ),
        code=grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violated_fields(into_itself) == ["destination_path"]
    await _refused(
        storage.files.FetchFile(
            fpb.FetchFileRequest(vfolder_id=folder.id, path="dir"), metadata=as_owner
        ),
        code=grpc.StatusCode.FAILED_PRECONDITION,
        reason="NOT_A_REGULAR_FILE",
    )


async def test_a_file_over_the_fetch_limit_is_refused_with_its_size(storage):
    owner = user()
    folder = await _folder(storage, owner)
    (folder.path / "big").write_bytes(b"\0" * (4 * 1024 * 1024 + 1))
    err = await _refused(
        storage.files.FetchFile(
            fpb.FetchFileRequest(vfolder_id=folder.id, path="big"),
            metadata=storage.as_caller(owner),
        ),
        code=grpc.StatusCode.FAILED_PRECONDITION,
        reason="FILE_TOO_LARGE",
    )
    assert error_info(err).metadata["size"] == str(4 * 1024 * 1024 + 1)


async def test_a_fifo_is_not_fetched_and_does_not_hang(storage):
    owner = user()
    folder = await _folder(storage, owner)
    os.mkfifo(folder.path / "pipe")
    await _refused(
        storage.files.FetchFile(
            fpb.FetchFileRequest(vfolder_id=folder.id, path="pipe"),
            metadata=storage.as_caller(owner),
            timeout=10,
        ),
        code=grpc.StatusCode.FAILED_PRECONDITION,
        reason="NOT_A_REGULAR_FILE",
    )


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a\x00b"])
async def test_paths_that_leave_the_folder_lexically_are_invalid(storage, path):
    owner = user()
    folder = await _folder(storage, owner)
    err = await _refused(
        storage.files.MakeDirectory(
            fpb.MakeDirectoryRequest(vfolder_id=folder.id, path=path),
            metadata=storage.as_caller(owner),
        ),
        code=grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violated_fields(err) == ["path"]


async def test_symlinks_out_of_the_folder_are_refused_on_every_operation(storage, tmp_path):
    owner = user()
    folder = await _folder(storage, owner)
    as_owner = storage.as_caller(owner)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    (folder.path / "out").symlink_to(outside)  # absolute link
    (folder.path / "up").symlink_to("../../../..")  # relative link climbing out
    (folder.path / "sub").mkdir()
    (folder.path / "sub" / "f").write_text("inside")
    (folder.path / "in").symlink_to("sub")  # a link that stays inside is followed
    escapes = [
        storage.files.ListFiles(
            fpb.ListFilesRequest(vfolder_id=folder.id, path="out"), metadata=as_owner
        ),
        storage.files.ListFiles(
            fpb.ListFilesRequest(vfolder_id=folder.id, path="up"), metadata=as_owner
        ),
        storage.files.FetchFile(
            fpb.FetchFileRequest(vfolder_id=folder.id, path="out/secret"), metadata=as_owner
        ),
        storage.files.MakeDirectory(
            fpb.MakeDirectoryRequest(vfolder_id=folder.id, path="out/new", parents=True),
            metadata=as_owner,
        ),
        storage.files.MoveFile(
            fpb.MoveFileRequest(
                vfolder_id=folder.id, source_path="sub/f", destination_path="out/stolen"
            ),
            metadata=as_owner,
        ),
        storage.files.MoveFile(
            fpb.MoveFileRequest(
                vfolder_id=folder.id, source_path="out/secret", destination_path="got"
            ),
            metadata=as_owner,
        ),
        storage.files.DeleteFiles(
            fpb.DeleteFilesRequest(vfolder_id=folder.id, paths=["out/secret"]), metadata=as_owner
        ),
    ]
    for call in escapes:
        await _refused(call, code=grpc.StatusCode.INVALID_ARGUMENT, reason="PATH_ESCAPES_FOLDER")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "host secret"
    assert (folder.path / "sub" / "f").exists()
    assert await _names(storage, owner, folder, path="in") == ["f"]
    # Deleting the link removes the link, never what it points at.
    await storage.files.DeleteFiles(
        fpb.DeleteFilesRequest(vfolder_id=folder.id, paths=["out"], recursive=True),
        metadata=as_owner,
    )
    assert not (folder.path / "out").is_symlink()
    assert (outside / "secret").read_text() == "host secret"


async def test_other_users_cannot_see_the_files_of_a_folder(storage):
    owner, stranger = user(), user()
    folder = await _folder(storage, owner)
    (folder.path / "f").write_text("x")
    for call in (
        storage.files.ListFiles(
            fpb.ListFilesRequest(vfolder_id=folder.id), metadata=storage.as_caller(stranger)
        ),
        storage.files.FetchFile(
            fpb.FetchFileRequest(vfolder_id=folder.id, path="f"),
            metadata=storage.as_caller(stranger),
        ),
        storage.files.DeleteFiles(
            fpb.DeleteFilesRequest(vfolder_id=folder.id, paths=["f"]),
            metadata=storage.as_caller(stranger),
        ),
    ):
        await _refused(call, code=grpc.StatusCode.NOT_FOUND, reason="VFOLDER_NOT_FOUND")
    assert (folder.path / "f").exists()


async def test_members_read_but_cannot_change_a_read_only_project_folder(storage):
    project = f"p-{secrets.token_hex(4)}"
    owner = dataclasses.replace(user(), project_ids=(project,))
    member = dataclasses.replace(user(), project_ids=(project,))
    folder = await _folder(
        storage, owner, project_id=project, permission=pb.MOUNT_PERMISSION_READ_ONLY
    )
    (folder.path / "data.csv").write_text("1,2")
    assert await _names(storage, member, folder) == ["data.csv"]
    await _refused(
        storage.files.DeleteFiles(
            fpb.DeleteFilesRequest(vfolder_id=folder.id, paths=["data.csv"]),
            metadata=storage.as_caller(member),
        ),
        code=grpc.StatusCode.PERMISSION_DENIED,
        reason="VFOLDER_READ_ONLY",
    )
    assert (folder.path / "data.csv").exists()
    await storage.files.MakeDirectory(  # its owner still writes
        fpb.MakeDirectoryRequest(vfolder_id=folder.id, path="more"),
        metadata=storage.as_caller(owner),
    )
