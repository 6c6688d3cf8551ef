from __future__ import annotations

import asyncio

import pytest

from libs.core.identity import SYSTEM_CALLER, Caller
from services.storage.domain.errors import (
    InvalidVFolderName,
    UnknownVolume,
    UserCallerRequired,
    VFolderAlreadyExists,
    VolumeOperationFailed,
)
from services.storage.domain.model import VFolderStatus


async def test_create_inserts_row_and_creates_directory(storage, alice):
    folder = await storage.create(alice, name="data")
    assert folder.owner_user_id == alice.user_id
    assert folder.volume == "local"
    assert folder.status is VFolderStatus.READY
    assert storage.db.rows == {folder.id: folder}
    assert storage.volume.dirs == {folder.id}


async def test_owner_id_is_stored_in_canonical_form(storage, alice):
    shouting = Caller(user_id=alice.user_id.upper())
    folder = await storage.create(shouting, name="data")
    assert folder.owner_user_id == alice.user_id


async def test_duplicate_name_is_already_exists_and_touches_no_disk(storage, alice):
    await storage.create(alice, name="data")
    with pytest.raises(VFolderAlreadyExists) as err:
        await storage.create(alice, name="data")
    assert err.value.reason == "VFOLDER_ALREADY_EXISTS"
    assert len(storage.db.rows) == 1
    assert len(storage.volume.dirs) == 1


async def test_same_name_for_another_owner_is_fine(storage, alice, bob):
    await storage.create(alice, name="data")
    await storage.create(bob, name="data")
    assert len(storage.db.rows) == 2


@pytest.mark.parametrize(
    "name", ["", "..", ".ssh", "a/b", "../x", "x" * 65, "data\n", "sp ace", "é"]
)
async def test_bad_name_is_invalid_argument_naming_the_field(storage, alice, name):
    with pytest.raises(InvalidVFolderName) as err:
        await storage.create(alice, name=name)
    assert [v.field for v in err.value.violations] == ["name"]
    assert not storage.db.rows


async def test_unknown_volume_is_invalid_argument(storage, alice):
    with pytest.raises(UnknownVolume) as err:
        await storage.create(alice, name="data", volume="nfs")
    assert err.value.code == "INVALID_ARGUMENT"
    assert [v.field for v in err.value.violations] == ["volume"]


async def test_explicit_default_volume_is_accepted(storage, alice):
    folder = await storage.create(alice, name="data", volume="local")
    assert folder.volume == "local"


async def test_a_service_caller_cannot_own_a_folder(storage):
    with pytest.raises(UserCallerRequired):
        await storage.create(SYSTEM_CALLER, name="data")


async def test_directory_failure_leaves_no_row(storage, alice):
    storage.volume.fail_create = True
    with pytest.raises(VolumeOperationFailed):
        await storage.create(alice, name="data")
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_commit_failure_removes_the_directory(storage, alice):
    storage.db.fail_commit = ConnectionError("database went away")
    with pytest.raises(ConnectionError):
        await storage.create(alice, name="data")
    assert not storage.db.rows
    assert not storage.volume.dirs


async def test_cancelled_caller_does_not_strand_a_directory(storage, alice):
    task = asyncio.create_task(storage.create(alice, name="data"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)  # the shielded work finishes on its own
    assert len(storage.db.rows) == 1
    assert set(storage.db.rows) == storage.volume.dirs
