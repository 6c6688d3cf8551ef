from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from libs.core.errors import InvalidArgument
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.model import VFolderStatus


async def test_paths_come_back_in_request_order(storage, alice):
    a = await storage.create(alice, name="a")
    b = await storage.create(alice, name="b")
    mounts = await storage.resolve(user_id=alice.user_id, names=["b", "a"])
    assert [(m.name, m.vfolder_id) for m in mounts] == [("b", b.id), ("a", a.id)]
    assert mounts[0].host_path == storage.volume.path_of(b.id)


async def test_missing_names_are_reported_exactly(storage, alice, bob):
    await storage.create(alice, name="a")
    await storage.create(bob, name="bobs")
    gone = await storage.create(alice, name="gone")
    storage.db.set_status(gone.id, VFolderStatus.DELETING)
    with pytest.raises(VFolderNotFound) as err:
        await storage.resolve(user_id=alice.user_id, names=["x", "a", "bobs", "gone"])
    assert err.value.reason == "VFOLDER_NOT_FOUND"
    assert err.value.metadata == {"names": "x,bobs,gone"}


async def test_no_names_is_no_mounts(storage, alice):
    assert await storage.resolve(user_id=alice.user_id, names=[]) == []


async def test_invalid_names_and_user_are_invalid_argument(storage):
    with pytest.raises(InvalidArgument) as err:
        await storage.resolve(user_id="nobody", names=["ok", "a,b", ".ssh"])
    assert [v.field for v in err.value.violations] == ["user_id", "names[1]", "names[2]"]


async def test_user_id_case_does_not_matter(storage, alice):
    await storage.create(alice, name="a")
    mounts = await storage.resolve(user_id=alice.user_id.upper(), names=["a"])
    assert [m.name for m in mounts] == ["a"]


async def test_unknown_user_has_nothing(storage):
    with pytest.raises(VFolderNotFound) as err:
        await storage.resolve(user_id=str(uuid.uuid4()), names=["a"])
    assert err.value.metadata == {"names": "a"}


async def test_dot_folders_are_mounted_without_being_asked(storage, alice):
    await storage.create(alice, name="data")
    dot = await storage.create(alice, name=".config-tools")
    mounts = await storage.resolve(user_id=alice.user_id, names=["data"])
    assert [m.name for m in mounts] == ["data", ".config-tools"]
    assert mounts[1].vfolder_id == dot.id
    assert [m.name for m in await storage.resolve(user_id=alice.user_id, names=[])] == [
        ".config-tools"
    ]


async def test_a_project_local_gives_each_member_a_directory_of_their_own(storage, alice):
    project = alice.project_ids[0] if alice.project_ids else "p1"
    member = replace(alice, project_ids=(project,))
    local = await storage.create(member, name=".local", project_id=project)
    other = str(uuid.uuid4())
    mounts = await storage.resolve(user_id=other, names=[], project_id=project)
    assert [m.name for m in mounts] == [".local"]
    assert mounts[0].host_path == f"{storage.volume.path_of(local.id)}/{uuid.UUID(other).hex}"
