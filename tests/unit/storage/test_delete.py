from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from services.storage.domain.errors import (
    VFolderAlreadyExists,
    VFolderNotFound,
    VolumeOperationFailed,
)
from services.storage.domain.model import VFolderStatus
from services.storage.service.delete import TrashSweeper
from services.storage.service.volumes import Volumes
from tests.unit.storage.fakes import FakeClock


async def test_delete_moves_to_the_trash_and_restore_brings_it_back(storage, alice):
    folder = await storage.create(alice, name="data")
    await storage.delete(alice, vfolder_id=folder.id)
    await storage.delete(alice, vfolder_id=folder.id)  # a retry changes nothing
    assert storage.db.rows[folder.id].status is VFolderStatus.TRASHED
    assert storage.volume.dirs == {folder.id}  # the files are kept
    assert (await storage.list(alice)).vfolders == ()
    assert [f.id for f in (await storage.list(alice, trashed=True)).vfolders] == [folder.id]
    with pytest.raises(VFolderNotFound):  # not mountable while trashed
        await storage.resolve(user_id=alice.user_id, names=["data"])
    restored = await storage.delete.restore(alice, vfolder_id=folder.id)
    assert restored.status is VFolderStatus.READY
    assert [f.id for f in (await storage.list(alice)).vfolders] == [folder.id]


async def test_a_trashed_folder_frees_its_name_and_a_clash_blocks_its_restore(storage, alice):
    old = await storage.create(alice, name="data")
    await storage.delete(alice, vfolder_id=old.id)
    await storage.create(alice, name="data")
    with pytest.raises(VFolderAlreadyExists):
        await storage.delete.restore(alice, vfolder_id=old.id)
    assert storage.db.rows[old.id].status is VFolderStatus.TRASHED


async def test_the_sweeper_purges_only_what_outlived_the_retention(storage, alice):
    old = await storage.create(alice, name="old")
    recent = await storage.create(alice, name="recent")
    await storage.delete(alice, vfolder_id=old.id)
    await storage.delete(alice, vfolder_id=recent.id)
    storage.db.rows[recent.id] = replace(
        storage.db.rows[recent.id], trashed_at=FakeClock.START + timedelta(days=29)
    )
    sweeper = TrashSweeper(
        uow=storage.db.uow,
        volumes=Volumes([storage.volume], default=storage.volume.name),
        retention=timedelta(days=30),
        clock=lambda: FakeClock.START + timedelta(days=30, seconds=1),
    )
    assert await sweeper.sweep() == 1
    assert set(storage.db.rows) == {recent.id}
    assert storage.volume.dirs == {recent.id}


async def test_owner_deletes_row_and_directory(storage, alice):
    folder = await storage.create(alice, name="data")
    await storage.delete(alice, vfolder_id=folder.id, purge=True)
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_others_get_not_found_and_nothing_changes(storage, alice, bob):
    folder = await storage.create(alice, name="data")
    with pytest.raises(VFolderNotFound) as err:
        await storage.delete(bob, vfolder_id=folder.id, purge=True)
    assert err.value.reason == "VFOLDER_NOT_FOUND"
    assert storage.db.rows[folder.id].status is VFolderStatus.READY
    assert storage.volume.dirs == {folder.id}


async def test_superadmin_deletes_any_folder(storage, alice, root):
    folder = await storage.create(alice, name="data")
    await storage.delete(root, vfolder_id=folder.id, purge=True)
    assert not storage.db.rows


@pytest.mark.parametrize("vfolder_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_unknown_folder_is_not_found(storage, alice, vfolder_id):
    with pytest.raises(VFolderNotFound):
        await storage.delete(alice, vfolder_id=vfolder_id)


async def test_upper_case_id_is_accepted(storage, alice):
    folder = await storage.create(alice, name="data")
    await storage.delete(alice, vfolder_id=folder.id.upper(), purge=True)
    assert not storage.db.rows


async def test_directory_failure_leaves_a_hidden_deleting_row_that_a_retry_cleans(storage, alice):
    folder = await storage.create(alice, name="data")
    storage.volume.fail_delete = True
    with pytest.raises(VolumeOperationFailed):
        await storage.delete(alice, vfolder_id=folder.id, purge=True)
    assert storage.db.rows[folder.id].status is VFolderStatus.DELETING
    assert (await storage.list(alice)).vfolders == ()
    with pytest.raises(VFolderNotFound):
        await storage.resolve(user_id=alice.user_id, names=["data"])

    storage.volume.fail_delete = False
    await storage.delete(alice, vfolder_id=folder.id, purge=True)
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_leftover_deleting_row_is_finished_on_retry(storage, alice):
    folder = await storage.create(alice, name="data")
    storage.db.set_status(folder.id, VFolderStatus.DELETING)  # crashed right after marking
    await storage.delete(alice, vfolder_id=folder.id, purge=True)
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_a_deleting_folder_frees_its_name(storage, alice):
    folder = await storage.create(alice, name="data")
    storage.db.set_status(folder.id, VFolderStatus.DELETING)
    again = await storage.create(alice, name="data")
    assert again.id != folder.id
