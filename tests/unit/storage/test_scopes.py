"""Folder access by scope: own and project folders, a domain admin's domain, everything."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from libs.core.identity import Caller, Role
from services.storage.domain.errors import ProjectNotFound, VFolderNotFound

PROJECT = str(uuid.uuid4())


def _caller(role: Role = Role.USER, domain: str = "A", projects: tuple[str, ...] = ()) -> Caller:
    return Caller(user_id=str(uuid.uuid4()), role=role, domain_name=domain, project_ids=projects)


async def _names(storage, caller: Caller) -> list[str]:
    return sorted(f.name for f in (await storage.list(caller)).vfolders)


async def test_a_project_folder_is_shared_by_the_projects_members_only(storage):
    owner, member = _caller(projects=(PROJECT,)), _caller(projects=(PROJECT,))
    outsider = _caller(projects=(str(uuid.uuid4()),))
    shared = await storage.create(owner, name="shared", project_id=PROJECT)
    await storage.create(owner, name="private")

    assert (shared.project_id, shared.domain_name) == (PROJECT, "A")
    assert await _names(storage, member) == ["shared"]
    assert await _names(storage, outsider) == []
    with pytest.raises(VFolderNotFound):
        await storage.delete(outsider, vfolder_id=shared.id)
    await storage.delete(member, vfolder_id=shared.id)
    assert await _names(storage, owner) == ["private"]


async def test_only_members_create_project_folders(storage):
    with pytest.raises(ProjectNotFound) as err:
        await storage.create(_caller(projects=("p-mine",)), name="x", project_id=PROJECT)
    assert [v.field for v in err.value.violations] == ["project_id"]


async def test_a_domain_admin_reaches_their_domain_and_nothing_else(storage):
    in_a, in_b = _caller(domain="A"), _caller(domain="B")
    here = await storage.create(in_a, name="here")
    there = await storage.create(in_b, name="there")
    admin_a = _caller(Role.ADMIN, domain="A")

    assert await _names(storage, admin_a) == ["here"]
    with pytest.raises(VFolderNotFound):  # not "forbidden": no existence leak
        await storage.delete(admin_a, vfolder_id=there.id)
    await storage.delete(admin_a, vfolder_id=here.id)


async def test_a_monitor_lists_every_folder(storage):
    await storage.create(_caller(domain="A"), name="a")
    await storage.create(_caller(domain="B"), name="b")
    assert await _names(storage, _caller(Role.MONITOR, domain="C")) == ["a", "b"]


async def test_an_owner_is_matched_whatever_the_case_of_the_user_id(storage):
    owner = _caller()
    folder = await storage.create(owner, name="f")
    shouting = dataclasses.replace(owner, user_id=owner.user_id.upper())
    await storage.delete(shouting, vfolder_id=folder.id)


async def test_a_session_mounts_its_projects_folders_and_own_folders_win_on_a_name(storage):
    owner, member = _caller(projects=(PROJECT,)), _caller(projects=(PROJECT,))
    shared = await storage.create(owner, name="data", project_id=PROJECT)
    await storage.create(owner, name="shared-only", project_id=PROJECT)
    own = await storage.create(member, name="data")

    mounts = await storage.resolve(
        user_id=member.user_id, names=["data", "shared-only"], project_id=PROJECT
    )
    assert mounts[0].vfolder_id == own.id != shared.id
    assert mounts[1].name == "shared-only"
    with pytest.raises(VFolderNotFound):  # another project's session cannot mount them
        await storage.resolve(user_id=member.user_id, names=["shared-only"], project_id="other")
