"""The upload/download adapter on real files: partial files, resume, completion, no escapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.core.errors import ShipyardError
from services.storage.adapters.transfers import LocalTransfers, partial_name
from services.storage.domain import file_errors as fe


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "folder"
    (folder / "d").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (folder / "out").symlink_to(tmp_path / "outside")
    return folder


async def test_an_interrupted_upload_resumes_and_appears_only_when_complete(root: Path) -> None:
    t = LocalTransfers()
    first = await t.open_upload(str(root), ("d", "x"), size=10, offset=0)
    await first.write(b"hello")
    await first.close()
    assert not (root / "d" / "x").exists()
    assert await t.upload_offset(str(root), ("d", "x"), 10) == 5
    second = await t.open_upload(str(root), ("d", "x"), size=10, offset=5)
    await second.write(b"world")
    await second.finish(overwrite=False)
    await second.close()
    assert (root / "d" / "x").read_bytes() == b"helloworld"
    assert [p.name for p in (root / "d").iterdir()] == ["x"]  # the partial file became the target
    assert await t.upload_offset(str(root), ("d", "x"), 10) == 0


async def test_resuming_at_the_wrong_offset_names_the_right_one(root: Path) -> None:
    t = LocalTransfers()
    upload = await t.open_upload(str(root), ("x",), size=10, offset=0)
    await upload.write(b"abc")
    await upload.close()
    with pytest.raises(fe.UploadOffsetMismatch) as err:
        await t.open_upload(str(root), ("x",), size=10, offset=7)
    assert err.value.metadata == {"offset": "3"}


async def test_two_streams_of_one_upload_never_interleave_their_bytes(root: Path) -> None:
    t = LocalTransfers()
    first = await t.open_upload(str(root), ("x",), size=8, offset=0)
    second = await t.open_upload(str(root), ("x",), size=8, offset=0)
    try:
        await first.write(b"abcd")
        # The second stream still believes nothing is stored: it is told where to resume.
        with pytest.raises(fe.UploadOffsetMismatch) as err:
            await second.write(b"wxyz")
        assert err.value.metadata == {"offset": "4"}
        await first.write(b"efgh")
        await first.finish(overwrite=False)
    finally:
        await first.close()
        await second.close()
    assert (root / "x").read_bytes() == b"abcdefgh"


async def test_more_bytes_than_declared_are_refused(root: Path) -> None:
    upload = await LocalTransfers().open_upload(str(root), ("x",), size=3, offset=0)
    try:
        with pytest.raises(fe.UploadTooLong):
            await upload.write(b"abcd")
    finally:
        await upload.close()


async def test_completing_onto_an_existing_file_needs_overwrite(root: Path) -> None:
    (root / "x").write_bytes(b"old")
    t = LocalTransfers()
    upload = await t.open_upload(str(root), ("x",), size=3, offset=0)
    await upload.write(b"new")
    with pytest.raises(fe.PathAlreadyExists):
        await upload.finish(overwrite=False)
    assert (root / "x").read_bytes() == b"old"
    await upload.finish(overwrite=True)
    await upload.close()
    assert (root / "x").read_bytes() == b"new"


async def test_uploads_and_downloads_through_a_link_out_of_the_folder_are_refused(
    root: Path,
) -> None:
    t = LocalTransfers()
    (root.parent / "outside" / "secret").write_bytes(b"s")
    with pytest.raises(fe.PathEscapesFolder):
        await t.open_upload(str(root), ("out", "x"), size=1, offset=0)
    with pytest.raises(fe.PathEscapesFolder):
        await t.open_download(str(root), ("out", "secret"))
    assert [p.name for p in (root.parent / "outside").iterdir()] == ["secret"]


async def test_a_link_planted_as_the_partial_file_is_not_followed(root: Path) -> None:
    victim = root.parent / "outside" / "victim"
    victim.write_bytes(b"keep")
    (root / partial_name("x", 4)).symlink_to(victim)
    with pytest.raises(ShipyardError):
        await LocalTransfers().open_upload(str(root), ("x",), size=4, offset=0)
    assert victim.read_bytes() == b"keep"


async def test_a_download_reads_a_range_and_refuses_directories(root: Path) -> None:
    (root / "f").write_bytes(b"0123456789")
    t = LocalTransfers()
    download = await t.open_download(str(root), ("f",))
    assert download.size == 10
    assert await download.read(3, 4) == b"3456"
    await download.close()
    with pytest.raises(fe.NotAFile):
        await t.open_download(str(root), ("d",))
