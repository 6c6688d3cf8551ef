"""The files inside a folder's directory, reached only through `beneath.open_beneath`.

Every call opens the folder's root, resolves the user's path beneath it (see beneath.py) and then
works with directory fds and names, never with a joined path string a link could redirect.
Blocking calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import logging
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from libs.core.errors import ShipyardError
from services.storage.adapters.beneath import open_beneath, rename_noreplace
from services.storage.domain import file_errors as fe
from services.storage.domain.errors import VolumeOperationFailed
from services.storage.domain.file_model import FileEntry, FileKind, FilePage
from services.storage.domain.relpath import joined

log = logging.getLogger(__name__)

Parts = tuple[str, ...]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY


class LocalFolderFiles:
    async def list_dir(self, root: str, parts: Parts, *, after: str, limit: int) -> FilePage:
        return await asyncio.to_thread(_list_dir, root, parts, after, limit)

    async def make_dir(self, root: str, parts: Parts, *, parents: bool, exist_ok: bool) -> None:
        await asyncio.to_thread(_make_dir, root, parts, parents, exist_ok)

    async def move(self, root: str, source: Parts, destination: Parts) -> None:
        await asyncio.to_thread(_move, root, source, destination)

    async def delete(self, root: str, paths: Sequence[Parts], *, recursive: bool) -> None:
        await asyncio.to_thread(_delete, root, paths, recursive)

    async def read_small(self, root: str, parts: Parts, *, limit: int) -> bytes:
        return await asyncio.to_thread(_read_small, root, parts, limit)


@contextmanager
def closing_fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def os_errors(field: str, parts: Parts) -> Iterator[None]:
    """OSError → the domain error a user can act on, naming the request field."""
    try:
        yield
    except ShipyardError:
        raise
    except OSError as exc:
        raise _translate(exc, field, joined(parts)) from exc


def _translate(exc: OSError, field: str, path: str) -> ShipyardError:
    code = exc.errno
    if code == errno.ENOENT:
        return fe.PathNotFound(f"{field} {path!r} does not exist", metadata={"path": path})
    if code == errno.EEXIST:
        return fe.PathAlreadyExists(f"{field} {path!r} already exists", metadata={"path": path})
    if code == errno.ENOTDIR:
        return fe.NotADirectory(f"a parent of {field} {path!r} is not a directory")
    if code in (errno.EXDEV, errno.ELOOP):
        return fe.PathEscapesFolder.for_field(field, path)
    if code == errno.ENOTEMPTY:
        return fe.DirectoryNotEmpty(f"{field} {path!r} is a directory that is not empty")
    if code == errno.EISDIR:
        return fe.NotAFile(f"{field} {path!r} is a directory")
    if code in (errno.EDQUOT, errno.ENOSPC):
        return fe.QuotaExceeded(
            f"no space left for {field} {path!r}: the folder's quota or volume is full",
            metadata={"path": path},
        )
    if code == errno.EINVAL:
        return fe.InvalidMove(f"cannot move a directory into itself ({path!r})")
    log.error("file operation on %s failed: %s", path, exc)
    return VolumeOperationFailed("the volume could not complete the file operation")


def open_root(root: str) -> int:
    try:
        return os.open(root, _DIR_FLAGS | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        log.error("folder root %s cannot be opened: %s", root, exc)
        raise VolumeOperationFailed("the folder's directory is missing on its volume") from exc


def open_dir(root_fd: int, parts: Parts) -> int:
    return open_beneath(root_fd, "/".join(parts), _DIR_FLAGS)


def _entry(dir_fd: int, name: str) -> FileEntry | None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:  # removed while we listed
        return None
    target = ""
    if stat.S_ISLNK(st.st_mode):
        kind, target = FileKind.SYMLINK, os.readlink(name, dir_fd=dir_fd)
    elif stat.S_ISDIR(st.st_mode):
        kind = FileKind.DIRECTORY
    elif stat.S_ISREG(st.st_mode):
        kind = FileKind.FILE
    else:
        kind = FileKind.OTHER
    return FileEntry(
        name=name,
        kind=kind,
        size=st.st_size,
        mode=stat.S_IMODE(st.st_mode),
        modified_at=datetime.fromtimestamp(st.st_mtime, UTC),
        symlink_target=target,
    )


def _list_dir(root: str, parts: Parts, after: str, limit: int) -> FilePage:
    with (
        closing_fd(open_root(root)) as root_fd,
        os_errors("path", parts),
        closing_fd(open_dir(root_fd, parts)) as dir_fd,
        os.scandir(dir_fd) as listing,
    ):
        # A bounded heap: a page of a 100k-entry directory never sorts the whole of it.
        names = heapq.nsmallest(limit + 1, (e.name for e in listing if e.name > after))
        page = [e for n in names[:limit] if (e := _entry(dir_fd, n)) is not None]
    more = len(names) > limit
    return FilePage(entries=tuple(page), last_name=names[limit - 1] if more else "")


def _make_dir(root: str, parts: Parts, parents: bool, exist_ok: bool) -> None:
    with closing_fd(open_root(root)) as root_fd, os_errors("path", parts):
        if parents:
            _make_parents(root_fd, parts[:-1])
        with closing_fd(open_dir(root_fd, parts[:-1])) as parent:
            try:
                os.mkdir(parts[-1], 0o755, dir_fd=parent)
            except FileExistsError:
                if not exist_ok or not _is_dir(parent, parts[-1]):
                    raise


def _make_parents(root_fd: int, parts: Parts) -> None:
    for depth in range(1, len(parts) + 1):
        # An existing one is fine: opening it next tells a file from a directory.
        with (
            closing_fd(open_dir(root_fd, parts[: depth - 1])) as parent,
            contextlib.suppress(FileExistsError),
        ):
            os.mkdir(parts[depth - 1], 0o755, dir_fd=parent)


def _is_dir(dir_fd: int, name: str) -> bool:
    return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)


def _move(root: str, source: Parts, destination: Parts) -> None:
    with (
        closing_fd(open_root(root)) as root_fd,
        os_errors("source_path", source),
        closing_fd(open_dir(root_fd, source[:-1])) as src,
    ):
        os.stat(source[-1], dir_fd=src, follow_symlinks=False)  # exists?
        with (
            os_errors("destination_path", destination),
            closing_fd(open_dir(root_fd, destination[:-1])) as dst,
        ):
            rename_noreplace(src, source[-1], dst, destination[-1])


def _delete(root: str, paths: Sequence[Parts], recursive: bool) -> None:
    with closing_fd(open_root(root)) as root_fd:
        for parts in paths:  # all present first: a typo deletes nothing
            with os_errors("paths", parts), closing_fd(open_dir(root_fd, parts[:-1])) as parent:
                os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        for parts in paths:
            with os_errors("paths", parts), closing_fd(open_dir(root_fd, parts[:-1])) as parent:
                _delete_one(parent, parts[-1], recursive)


def _delete_one(parent: int, name: str, recursive: bool) -> None:
    if not _is_dir(parent, name):
        os.unlink(name, dir_fd=parent)  # a link is removed itself, never its target
    elif recursive:
        shutil.rmtree(name, dir_fd=parent)  # fd-based: immune to links swapped in meanwhile
    else:
        os.rmdir(name, dir_fd=parent)


def _read_small(root: str, parts: Parts, limit: int) -> bytes:
    flags = os.O_RDONLY | os.O_NONBLOCK  # a FIFO planted in the folder must not hang us
    with (
        closing_fd(open_root(root)) as root_fd,
        os_errors("path", parts),
        closing_fd(open_beneath(root_fd, "/".join(parts), flags)) as fd,
    ):
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise fe.NotAFile(f"path {joined(parts)!r} is not a regular file")
        if st.st_size > limit:
            raise fe.FileTooLarge(
                f"path {joined(parts)!r} has {st.st_size} bytes, more than {limit}: "
                "download it instead",
                metadata={"size": str(st.st_size), "limit": str(limit)},
            )
        chunks, total = [], 0
        while total <= limit and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # it grew while we read
            raise fe.FileTooLarge(f"path {joined(parts)!r} is larger than {limit} bytes")
        return b"".join(chunks)
