from __future__ import annotations

import uuid

import pytest

from services.storage.domain.errors import VFolderNotFound, VolumeOperationFailed
from services.storage.domain.model import VFolderStatus


async def test_owner_deletes_row_and_directory(storage, alice):
    folder = await storage.create(alice, name="data")
    await storage.delete(alice, vfolder_id=folder.id)
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_others_get_not_found_and_nothing_changes(storage, alice, bob):
    folder = await storage.create(alice, name="data")
    with pytest.raises(VFolderNotFound) as err:
        await storage.delete(bob, vfolder_id=folder.id)
    assert err.value.reason == "VFOLDER_NOT_FOUND"
    assert storage.db.rows[folder.id].status is VFolderStatus.READY
    assert storage.volume.dirs == {folder.id}


async def test_superadmin_deletes_any_folder(storage, alice, root):
    folder = await storage.create(alice, name="data")
    await storage.delete(root, vfolder_id=folder.id)
    assert not storage.db.rows


@pytest.mark.parametrize("vfolder_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_unknown_folder_is_not_found(storage, alice, vfolder_id):
    with pytest.raises(VFolderNotFound):
        await storage.delete(alice, vfolder_id=vfolder_id)


async def test_upper_case_id_is_accepted(storage, alice):
    folder = await storage.create(alice, name="data")
    await storage.delete(alice, vfolder_id=folder.id.upper())
    assert not storage.db.rows


async def test_directory_failure_leaves_a_hidden_deleting_row_that_a_retry_cleans(storage, alice):
    folder = await storage.create(alice, name="data")
    storage.volume.fail_delete = True
    with pytest.raises(VolumeOperationFailed):
        await storage.delete(alice, vfolder_id=folder.id)
    assert storage.db.rows[folder.id].status is VFolderStatus.DELETING
    assert (await storage.list(alice)).vfolders == ()
    with pytest.raises(VFolderNotFound):
        await storage.resolve(user_id=alice.user_id, names=["data"])

    storage.volume.fail_delete = False
    await storage.delete(alice, vfolder_id=folder.id)
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_leftover_deleting_row_is_finished_on_retry(storage, alice):
    folder = await storage.create(alice, name="data")
    storage.db.set_status(folder.id, VFolderStatus.DELETING)  # crashed right after marking
    await storage.delete(alice, vfolder_id=folder.id)
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_a_deleting_folder_frees_its_name(storage, alice):
    folder = await storage.create(alice, name="data")
    storage.db.set_status(folder.id, VFolderStatus.DELETING)
    again = await storage.create(alice, name="data")
    assert again.id != folder.id
