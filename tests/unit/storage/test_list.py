from __future__ import annotations

import pytest

from libs.core.errors import InvalidArgument
from services.storage.domain.errors import InvalidPageToken
from services.storage.domain.model import VFolderStatus


async def test_users_see_only_their_own_folders(storage, alice, bob):
    mine = await storage.create(alice, name="a")
    await storage.create(bob, name="b")
    page = await storage.list(alice)
    assert [f.id for f in page.vfolders] == [mine.id]
    assert page.next_page_token == ""


async def test_superadmin_sees_every_folder(storage, alice, bob, root):
    await storage.create(alice, name="a")
    await storage.create(bob, name="b")
    page = await storage.list(root)
    assert sorted(f.name for f in page.vfolders) == ["a", "b"]


async def test_pages_cover_every_folder_exactly_once(storage, alice):
    created = [(await storage.create(alice, name=f"f{i}")).id for i in range(23)]
    seen: list[str] = []
    token = ""
    while True:
        page = await storage.list(alice, page_size=5, page_token=token)
        assert len(page.vfolders) <= 5
        seen += [f.id for f in page.vfolders]
        token = page.next_page_token
        if not token:
            break
    assert seen == created


async def test_default_page_size_is_100(storage, alice):
    for i in range(101):
        await storage.create(alice, name=f"f{i}")
    page = await storage.list(alice)
    assert len(page.vfolders) == 100
    rest = await storage.list(alice, page_token=page.next_page_token)
    assert len(rest.vfolders) == 1
    assert rest.next_page_token == ""


async def test_deleting_folders_are_hidden(storage, alice):
    folder = await storage.create(alice, name="a")
    storage.db.set_status(folder.id, VFolderStatus.DELETING)
    assert (await storage.list(alice)).vfolders == ()


@pytest.mark.parametrize("token", ["nonsense", "e30=", "eyJ0IjoiMjAyNiIsImkiOiJ4In0=", "%%%"])
async def test_bad_page_token_is_invalid_argument_naming_it(storage, alice, token):
    with pytest.raises(InvalidPageToken) as err:
        await storage.list(alice, page_token=token)
    assert [v.field for v in err.value.violations] == ["page_token"]


@pytest.mark.parametrize("size", [-1, 1001])
async def test_page_size_out_of_range_is_invalid_argument(storage, alice, size):
    with pytest.raises(InvalidArgument) as err:
        await storage.list(alice, page_size=size)
    assert [v.field for v in err.value.violations] == ["page_size"]
