from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from services.storage.adapters.local_volume import LocalVolume


@pytest.fixture
def volume(tmp_path: Path) -> LocalVolume:
    return LocalVolume("local", tmp_path / "vol")


def test_path_is_sharded_by_id_under_the_absolute_root(volume, tmp_path):
    vfolder_id = str(uuid.uuid4())
    path = Path(volume.path_of(vfolder_id.upper()))
    assert path == (tmp_path / "vol").resolve() / vfolder_id[:2] / vfolder_id
    assert path.is_absolute()


def test_anything_but_a_uuid_is_refused(volume):
    with pytest.raises(ValueError, match="UUID"):
        volume.path_of("../../etc")


async def test_create_and_delete_are_idempotent(volume):
    vfolder_id = str(uuid.uuid4())
    await volume.ensure_root()
    await volume.create_dir(vfolder_id)
    await volume.create_dir(vfolder_id)
    path = Path(volume.path_of(vfolder_id))
    await asyncio.to_thread(_fill, path)
    await volume.delete_dir(vfolder_id)
    assert not await asyncio.to_thread(path.exists)
    await volume.delete_dir(vfolder_id)


def _fill(path: Path) -> None:
    (path / "sub").mkdir()
    (path / "sub" / "file.txt").write_text("x")
