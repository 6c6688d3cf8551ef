"""Files beneath the work directory through a real kernel runner (RunnerFiles over its socket)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.core.errors import FailedPrecondition, InvalidArgument, NotFound
from services.agent.adapters.runner_client import RunnerClient
from services.agent.adapters.runner_files import RunnerFiles
from services.agent.domain.files import FileKind
from tests.integration.agent.runner_process import short_dir, start_runner

__all__ = ["short_dir"]
KERNEL = "k"


@pytest.fixture
def files(short_dir: Path) -> Iterator[RunnerFiles]:
    proc = start_runner(short_dir)
    client = RunnerClient(short_dir / "runner.sock")
    yield RunnerFiles(lambda _kernel_id: client)
    proc.kill()
    proc.wait()


async def test_write_in_pieces_then_read_back_and_list(files: RunnerFiles, short_dir: Path) -> None:
    blob = os.urandom(300_000)
    assert await files.write(KERNEL, "d/e/blob.bin", 0, blob[:100_000], truncate=True) == 100_000
    assert await files.write(KERNEL, "d/e/blob.bin", 100_000, blob[100_000:], truncate=False)
    assert (short_dir / "work/d/e/blob.bin").read_bytes() == blob
    got = b""
    while len(got) < len(blob):
        piece = await files.read(KERNEL, "d/e/blob.bin", len(got), 65536)
        assert piece.size == len(blob)
        got += piece.data
    assert got == blob
    page = await files.list(KERNEL, "d/e", 0, 10)
    assert [(e.name, e.kind, e.size) for e in page.entries] == [
        ("blob.bin", FileKind.FILE, 300_000)
    ]
    root = await files.list(KERNEL, "", 0, 10)
    assert [(e.name, e.kind) for e in root.entries] == [("d", FileKind.DIRECTORY)]


async def test_rewriting_from_zero_replaces_the_content(files: RunnerFiles) -> None:
    await files.write(KERNEL, "a.txt", 0, b"a long first version", truncate=True)
    assert await files.write(KERNEL, "a.txt", 0, b"short", truncate=True) == 5
    assert (await files.read(KERNEL, "a.txt", 0, 100)).data == b"short"


async def test_listing_pages_by_name(files: RunnerFiles) -> None:
    for name in ("c", "a", "b"):
        await files.write(KERNEL, name, 0, b"", truncate=True)
    first = await files.list(KERNEL, ".", 0, 2)
    rest = await files.list(KERNEL, ".", 2, 2)
    assert [e.name for e in first.entries + rest.entries] == ["a", "b", "c"]
    assert first.total == 3


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x"])
async def test_paths_leaving_the_work_directory_are_invalid(files: RunnerFiles, path: str) -> None:
    with pytest.raises(InvalidArgument, match="path"):
        await files.read(KERNEL, path, 0, 10)
    with pytest.raises(InvalidArgument, match="path"):
        await files.write(KERNEL, path, 0, b"x", truncate=True)


async def test_symlinks_are_never_followed(files: RunnerFiles, short_dir: Path) -> None:
    outside = short_dir / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not yours")
    work = short_dir / "work"
    (work / "up").symlink_to(outside)
    (work / "secret-link").symlink_to(outside / "secret")
    for path in ("up/secret", "secret-link"):
        with pytest.raises(NotFound):
            await files.read(KERNEL, path, 0, 10)
    with pytest.raises(NotFound):
        await files.write(KERNEL, "up/planted", 0, b"x", truncate=True)
    with pytest.raises(NotFound):
        await files.write(KERNEL, "secret-link", 0, b"x", truncate=True)
    with pytest.raises(NotFound):
        await files.list(KERNEL, "up", 0, 10)
    assert not (outside / "planted").exists()
    assert (outside / "secret").read_text() == "not yours"
    kinds = {e.name: e.kind for e in (await files.list(KERNEL, "", 0, 10)).entries}
    assert kinds == {"up": FileKind.SYMLINK, "secret-link": FileKind.SYMLINK}


async def test_missing_files_directories_and_fifos(files: RunnerFiles, short_dir: Path) -> None:
    with pytest.raises(NotFound):
        await files.read(KERNEL, "nope.txt", 0, 10)
    await files.write(KERNEL, "dir/f", 0, b"x", truncate=True)
    with pytest.raises(FailedPrecondition, match="directory"):
        await files.read(KERNEL, "dir", 0, 10)
    os.mkfifo(short_dir / "work/fifo")  # opening it must not hang the request
    with pytest.raises(FailedPrecondition, match="regular"):
        await files.read(KERNEL, "fifo", 0, 10)
    with pytest.raises(FailedPrecondition):
        await files.write(KERNEL, "fifo", 0, b"x", truncate=True)


async def test_a_name_that_is_not_utf8_is_listed_readably(
    files: RunnerFiles, short_dir: Path
) -> None:
    (Path(os.fsdecode(bytes(short_dir / "work"))) / os.fsdecode(b"bad-\xff")).write_bytes(b"")
    names = [e.name for e in (await files.list(KERNEL, "", 0, 10)).entries]
    assert names == ["bad-\ufffd"]
