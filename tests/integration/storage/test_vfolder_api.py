from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from shipyard.storage.v1 import vfolder_service_pb2 as pb
from sqlalchemy import text

from libs.core.identity import Role
from libs.db.migrate import upgrade
from services.storage.adapters.tables import SCHEMA
from services.storage.app import MIGRATIONS
from tests.integration.storage.helpers import error_info, user, violated_fields

pytestmark = pytest.mark.integration


async def _create(storage, caller, name: str, volume: str = "") -> pb.VFolder:
    response = await storage.vfolders.CreateVFolder(
        pb.CreateVFolderRequest(name=name, volume=volume), metadata=storage.as_caller(caller)
    )
    return response.vfolder


async def _list_all(storage, caller, page_size: int = 0) -> list[pb.VFolder]:
    folders: list[pb.VFolder] = []
    token = ""
    while True:
        page = await storage.vfolders.ListVFolders(
            pb.ListVFoldersRequest(page_size=page_size, page_token=token),
            metadata=storage.as_caller(caller),
        )
        folders += page.vfolders
        token = page.next_page_token
        if not token:
            return folders


async def _row_status(storage, vfolder_id: str) -> str | None:
    async with storage.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT status FROM storage.vfolders WHERE id = :id"), {"id": vfolder_id}
        )
        return result.scalar_one_or_none()


def _exists(path: Path) -> bool:
    return path.is_dir()


async def test_create_makes_a_row_and_a_sharded_directory(storage):
    alice = user()
    folder = await _create(storage, alice, "data")
    assert folder.name == "data"
    assert folder.owner_user_id == alice.user_id
    assert folder.volume == "local"
    assert folder.create_time.seconds > 0
    path = storage.volume_root.resolve() / folder.vfolder_id[:2] / folder.vfolder_id
    assert await asyncio.to_thread(_exists, path)
    assert await _row_status(storage, folder.vfolder_id) == "ready"


async def test_list_shows_a_folder_only_to_its_owner_and_superadmins(storage):
    alice, bob = user(), user()
    folder = await _create(storage, alice, "mine")
    assert [f.vfolder_id for f in await _list_all(storage, alice)] == [folder.vfolder_id]
    assert await _list_all(storage, bob) == []
    every = await _list_all(storage, user(Role.SUPERADMIN), page_size=1000)
    assert folder.vfolder_id in {f.vfolder_id for f in every}


async def test_another_user_gets_not_found_on_delete(storage):
    alice, bob = user(), user()
    folder = await _create(storage, alice, "private")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.DeleteVFolder(
            pb.DeleteVFolderRequest(vfolder_id=folder.vfolder_id), metadata=storage.as_caller(bob)
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert error_info(err.value).reason == "VFOLDER_NOT_FOUND"
    assert await _row_status(storage, folder.vfolder_id) == "ready"


async def test_delete_trashes_and_purge_removes_row_and_directory(storage):
    alice = user()
    folder = await _create(storage, alice, "scratch")
    path = storage.volume_root.resolve() / folder.vfolder_id[:2] / folder.vfolder_id
    await storage.vfolders.DeleteVFolder(
        pb.DeleteVFolderRequest(vfolder_id=folder.vfolder_id), metadata=storage.as_caller(alice)
    )
    assert await _row_status(storage, folder.vfolder_id) == "trashed"
    assert await asyncio.to_thread(_exists, path)
    trash = await storage.vfolders.ListVFolders(
        pb.ListVFoldersRequest(trashed=True), metadata=storage.as_caller(alice)
    )
    assert [(f.vfolder_id, f.status) for f in trash.vfolders] == [
        (folder.vfolder_id, pb.V_FOLDER_STATUS_TRASHED)
    ]
    assert trash.vfolders[0].trash_time.seconds > 0
    await storage.vfolders.DeleteVFolder(
        pb.DeleteVFolderRequest(vfolder_id=folder.vfolder_id, purge=True),
        metadata=storage.as_caller(alice),
    )
    assert await _row_status(storage, folder.vfolder_id) is None
    assert not await asyncio.to_thread(_exists, path)
    # The name is free again.
    await _create(storage, alice, "scratch")


async def test_a_leftover_deleting_row_is_finished_by_a_retry(storage):
    alice = user()
    folder = await _create(storage, alice, "half-deleted")
    async with storage.engine.begin() as conn:  # as if we crashed right after marking it
        await conn.execute(
            text("UPDATE storage.vfolders SET status = 'deleting' WHERE id = :id"),
            {"id": folder.vfolder_id},
        )
    assert await _list_all(storage, alice) == []
    await storage.vfolders.DeleteVFolder(
        pb.DeleteVFolderRequest(vfolder_id=folder.vfolder_id, purge=True),
        metadata=storage.as_caller(alice),
    )
    assert await _row_status(storage, folder.vfolder_id) is None


async def test_rename_and_options_by_the_owner_only(storage):
    alice, bob = user(), user()
    folder = await _create(storage, alice, "before")
    await _create(storage, alice, "taken")
    mask = {"paths": ["name", "cloneable", "usage_mode"]}
    changed = await storage.vfolders.UpdateVFolder(
        pb.UpdateVFolderRequest(
            vfolder=pb.VFolder(
                vfolder_id=folder.vfolder_id,
                name="after",
                cloneable=True,
                usage_mode=pb.V_FOLDER_USAGE_MODE_MODEL,
            ),
            update_mask=mask,
        ),
        metadata=storage.as_caller(alice),
    )
    assert (changed.vfolder.name, changed.vfolder.cloneable) == ("after", True)
    assert changed.vfolder.usage_mode == pb.V_FOLDER_USAGE_MODE_MODEL
    clash = pb.UpdateVFolderRequest(
        vfolder=pb.VFolder(vfolder_id=folder.vfolder_id, name="taken"),
        update_mask={"paths": ["name"]},
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.UpdateVFolder(clash, metadata=storage.as_caller(alice))
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.UpdateVFolder(clash, metadata=storage.as_caller(bob))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    bad_mask = pb.UpdateVFolderRequest(
        vfolder=pb.VFolder(vfolder_id=folder.vfolder_id), update_mask={"paths": ["owner_user_id"]}
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.UpdateVFolder(bad_mask, metadata=storage.as_caller(alice))
    assert violated_fields(err.value) == ["update_mask"]


async def test_duplicate_name_is_already_exists(storage):
    alice = user()
    await _create(storage, alice, "twice")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _create(storage, alice, "twice")
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    info = error_info(err.value)
    assert info.reason == "VFOLDER_ALREADY_EXISTS"
    assert info.domain == "storage.shipyard"


async def test_concurrent_creates_of_one_name_yield_one_folder(storage):
    alice = user()
    results = await asyncio.gather(
        *(_create(storage, alice, "raced") for _ in range(5)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, pb.VFolder)]
    assert len(created) == 1
    codes = {r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)}
    assert codes == {grpc.StatusCode.ALREADY_EXISTS}
    assert len(await _list_all(storage, alice)) == 1


@pytest.mark.parametrize("name", ["..", "a/b", "x" * 65, ""])
async def test_bad_name_is_invalid_argument_naming_the_field(storage, name):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _create(storage, user(), name)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err.value) == ["name"]


async def test_unknown_volume_is_invalid_argument(storage):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _create(storage, user(), "data", volume="nfs")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(err.value).reason == "UNKNOWN_VOLUME"
    assert violated_fields(err.value) == ["volume"]


async def test_pages_return_every_folder_exactly_once(storage):
    alice = user()
    created = [(await _create(storage, alice, f"f{i:02}")).vfolder_id for i in range(17)]
    seen = [f.vfolder_id for f in await _list_all(storage, alice, page_size=4)]
    assert seen == created


async def test_bad_page_token_is_invalid_argument(storage):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.ListVFolders(
            pb.ListVFoldersRequest(page_token="garbage"), metadata=storage.as_caller(user())
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err.value) == ["page_token"]


async def test_calls_without_the_internal_token_are_unauthenticated(storage):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await storage.vfolders.ListVFolders(pb.ListVFoldersRequest())
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_migrations_can_run_again(storage, database_url):
    await upgrade(database_url, MIGRATIONS, SCHEMA)
    assert await _row_status(storage, "00000000-0000-0000-0000-000000000000") is None
