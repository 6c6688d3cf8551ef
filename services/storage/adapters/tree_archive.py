"""A directory of a folder as a zip archive, written while it is sent.

The tree is walked fd by fd with O_NOFOLLOW beneath the folder (like tree_copy.py), so a link
swapped in meanwhile cannot lead outside it; links, sockets, pipes and devices are left out.
Files are stored uncompressed (ZIP_STORED: most datasets are compressed already, and the
archive then costs no CPU), with zip64 records where a file needs them. A worker thread writes
the zip into a bounded queue that the response drains, so memory stays at a few pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

from services.storage.adapters.folder_files import closing_fd, open_dir, open_root, os_errors
from services.storage.service.transfer_ports import Parts

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_PIECE = 1024 * 1024
_QUEUED_PIECES = 8
_ZIP64_FROM = 0x7FFFFFFF


class _Stopped(Exception):
    """The receiver went away: the writer thread stops."""


class _QueueWriter:
    """A write-only, unseekable file whose writes land, in pieces, on an asyncio queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]) -> None:
        self._loop, self._queue = loop, queue
        self._pending = bytearray()
        self.stopped = threading.Event()
        self._written = 0

    def write(self, data: bytes) -> int:
        self._pending += data
        self._written += len(data)
        if len(self._pending) >= _PIECE:
            self._put(bytes(self._pending))
            self._pending.clear()
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        """Nothing: pieces leave on their own once large enough, the rest at `close_stream`."""

    def close_stream(self) -> None:
        if self._pending:
            self._put(bytes(self._pending))
            self._pending.clear()

    def _put(self, piece: bytes | None) -> None:
        if self.stopped.is_set():
            raise _Stopped
        future = asyncio.run_coroutine_threadsafe(self._queue.put(piece), self._loop)
        while True:
            try:
                future.result(timeout=0.5)
                return
            except TimeoutError:
                if self.stopped.is_set():
                    future.cancel()
                    raise _Stopped from None

    def finish(self) -> None:
        with contextlib.suppress(_Stopped):
            self._put(None)


async def zip_tree(root: str, parts: Parts) -> AsyncIterator[bytes]:
    """The zip of the directory `parts` beneath `root`; a missing or non-directory path raises
    before the first piece (the caller can still answer with an error)."""
    await asyncio.to_thread(_check_dir, root, parts)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_QUEUED_PIECES)
    writer = _QueueWriter(loop, queue)
    worker = asyncio.ensure_future(asyncio.to_thread(_write_zip, root, parts, writer))
    try:
        while (piece := await queue.get()) is not None:
            yield piece
        await worker  # raises what the walk raised
    finally:
        writer.stopped.set()
        with contextlib.suppress(Exception):
            await worker


def _check_dir(root: str, parts: Parts) -> None:
    with closing_fd(open_root(root)) as root_fd, os_errors("path", parts):
        os.close(open_dir(root_fd, parts))


def _write_zip(root: str, parts: Parts, writer: _QueueWriter) -> None:
    try:
        with (
            closing_fd(open_root(root)) as root_fd,
            os_errors("path", parts),
            closing_fd(open_dir(root_fd, parts)) as top,
            zipfile.ZipFile(writer, "w", compression=zipfile.ZIP_STORED) as archive,  # type: ignore[call-overload]
        ):
            for name, dir_fd, st in _files(top, ""):
                _add_file(archive, name, dir_fd, st)
        writer.close_stream()
    except _Stopped:
        return
    finally:
        writer.finish()


def _files(dir_fd: int, prefix: str) -> Iterator[tuple[str, int, os.stat_result]]:
    """(archive name, parent dir fd, stat) of every regular file beneath `dir_fd`, sorted."""
    with os.scandir(dir_fd) as entries:
        names = sorted(e.name for e in entries)
    for name in names:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:  # removed while we walk
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                sub = os.open(name, _DIR, dir_fd=dir_fd)
            except OSError:  # replaced by a link or removed meanwhile: left out
                continue
            with closing_fd(sub):
                yield from _files(sub, f"{prefix}{name}/")
        elif stat.S_ISREG(st.st_mode):
            yield f"{prefix}{name}", dir_fd, st


def _add_file(archive: zipfile.ZipFile, name: str, dir_fd: int, st: os.stat_result) -> None:
    try:
        fd = os.open(name.rsplit("/", 1)[-1], _FILE, dir_fd=dir_fd)
    except OSError:  # replaced by a link or removed meanwhile: left out
        return
    with closing_fd(fd):
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        info = zipfile.ZipInfo(name, _zip_time(st.st_mtime))
        info.external_attr = (stat.S_IMODE(st.st_mode) | stat.S_IFREG) << 16
        info.file_size = st.st_size
        with archive.open(info, "w", force_zip64=st.st_size >= _ZIP64_FROM) as out:
            while data := os.read(fd, _PIECE):
                out.write(data)


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    when = datetime.fromtimestamp(max(mtime, 315532800), UTC)  # zip cannot say before 1980
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)
