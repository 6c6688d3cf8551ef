"""Streaming uploads and downloads of one file inside a folder, through `beneath.open_beneath`.

An upload writes to a hidden partial file in the target's directory, named after the target and
its declared size, so a second stream for the same file and size finds it and resumes at its
length. Only when every declared byte is stored is it flushed to disk and renamed onto the
target (renameat2 NOREPLACE unless the caller asked to overwrite), so the target is never seen
half-written: a write the volume refuses (EDQUOT, ENOSPC) leaves the target as it was and the
partial file at a resumable length. Blocking calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from services.storage.adapters.beneath import open_beneath, rename_noreplace
from services.storage.adapters.folder_files import closing_fd, open_dir, open_root, os_errors
from services.storage.adapters.tree_archive import zip_tree
from services.storage.domain import file_errors as fe
from services.storage.domain.relpath import joined

Parts = tuple[str, ...]
PARTIAL_PREFIX = ".shipyard-upload-"


def partial_name(name: str, size: int) -> str:
    digest = hashlib.sha256(f"{size}:{name}".encode("utf-8", "surrogateescape")).hexdigest()
    return f"{PARTIAL_PREFIX}{digest[:32]}.part"


@dataclass(slots=True)
class OpenUpload:
    """An upload in progress: the target's directory, the partial file and how far it got."""

    parts: Parts
    dir_fd: int
    fd: int
    partial: str
    offset: int
    size: int

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(_write, self, data)

    async def finish(self, *, overwrite: bool) -> None:
        await asyncio.to_thread(_finish, self, overwrite)

    async def close(self) -> None:
        _close_upload(self)


@dataclass(frozen=True, slots=True)
class OpenDownload:
    fd: int
    size: int

    async def read(self, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(os.pread, self.fd, length, offset)

    async def close(self) -> None:
        os.close(self.fd)


class LocalTransfers:
    async def upload_offset(self, root: str, parts: Parts, size: int) -> int:
        return await asyncio.to_thread(_upload_offset, root, parts, size)

    async def open_upload(self, root: str, parts: Parts, *, size: int, offset: int) -> OpenUpload:
        return await asyncio.to_thread(_open_upload, root, parts, size, offset)

    async def open_download(self, root: str, parts: Parts) -> OpenDownload:
        return await asyncio.to_thread(_open_download, root, parts)

    def archive(self, root: str, parts: Parts) -> AsyncIterator[bytes]:
        return zip_tree(root, parts)


def _upload_offset(root: str, parts: Parts, size: int) -> int:
    with (
        closing_fd(open_root(root)) as root_fd,
        os_errors("path", parts),
        closing_fd(open_dir(root_fd, parts[:-1])) as dir_fd,
    ):
        try:
            st = os.stat(partial_name(parts[-1], size), dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return 0
        return st.st_size if stat.S_ISREG(st.st_mode) else 0


@contextlib.contextmanager
def _exclusive(fd: int) -> Iterator[None]:
    """Held only while one piece is checked and written: a stream that went quiet (or whose
    client vanished) blocks nobody, and two streams still cannot interleave their bytes."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _check_stored(upload: OpenUpload, stored: int) -> None:
    if stored != upload.offset:
        raise fe.UploadOffsetMismatch(
            f"the upload of {joined(upload.parts)!r} has {stored} bytes stored, "
            f"not {upload.offset}: resume from {stored}",
            metadata={"offset": str(stored)},
        )


def _open_upload(root: str, parts: Parts, size: int, offset: int) -> OpenUpload:
    with closing_fd(open_root(root)) as root_fd, os_errors("path", parts):
        dir_fd = open_dir(root_fd, parts[:-1])
        try:
            name = partial_name(parts[-1], size)
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
        except BaseException:
            os.close(dir_fd)
            raise
    upload = OpenUpload(parts, dir_fd, fd, name, offset, size)
    try:
        with _exclusive(fd):
            if offset == 0:
                os.ftruncate(fd, 0)  # offset 0 starts afresh
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise fe.NotAFile(f"the partial upload of {joined(parts)!r} is not a regular file")
            _check_stored(upload, st.st_size)
    except BaseException:
        _close_upload(upload)
        raise
    return upload


def _write(upload: OpenUpload, data: bytes) -> None:
    if upload.offset + len(data) > upload.size:
        raise fe.UploadTooLong(
            f"the upload of {joined(upload.parts)!r} sends more than its size "
            f"of {upload.size} bytes"
        )
    view = memoryview(data)
    with os_errors("path", upload.parts), _exclusive(upload.fd):
        # Another stream of the same upload may have written since: then this one is stale.
        _check_stored(upload, os.fstat(upload.fd).st_size)
        while view:
            written = os.pwrite(upload.fd, view, upload.offset)
            upload.offset += written
            view = view[written:]


def _finish(upload: OpenUpload, overwrite: bool) -> None:
    target = upload.parts[-1]
    with os_errors("path", upload.parts), _exclusive(upload.fd):
        _check_stored(upload, os.fstat(upload.fd).st_size)
        os.fsync(upload.fd)
        if overwrite:
            st = None
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(target, dir_fd=upload.dir_fd, follow_symlinks=False)
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise fe.NotAFile(f"path {joined(upload.parts)!r} is a directory")
            os.rename(upload.partial, target, src_dir_fd=upload.dir_fd, dst_dir_fd=upload.dir_fd)
        else:
            rename_noreplace(upload.dir_fd, upload.partial, upload.dir_fd, target)
        os.fsync(upload.dir_fd)


def _close_upload(upload: OpenUpload) -> None:
    os.close(upload.fd)
    os.close(upload.dir_fd)


def _open_download(root: str, parts: Parts) -> OpenDownload:
    flags = os.O_RDONLY | os.O_NONBLOCK  # a FIFO planted in the folder must not hang us
    with closing_fd(open_root(root)) as root_fd, os_errors("path", parts):
        fd = open_beneath(root_fd, "/".join(parts), flags)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise fe.NotAFile(f"path {joined(parts)!r} is not a regular file")
    return OpenDownload(fd, st.st_size)
