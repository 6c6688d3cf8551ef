"""Files strictly beneath the kernel's work directory: list, read a range, write at an offset.

Stdlib only (loaded by the runner with `_sibling`). Paths are relative to the work directory;
absolute paths, `..`, empty components and NUL are refused, and every component is opened
relative to its parent's descriptor with O_NOFOLLOW, so no symlink (planted by the user's code or
anyone else) can lead a request outside the work directory.
    {"op": "files_list", "path": str, "offset": int, "limit": int}
        ->  {"ok": true, "entries": [{"name", "kind", "size", "mtime"}], "total": int}
            (sorted by name; kind is "file", "directory", "symlink" or "other")
    {"op": "files_read", "path": str, "offset": int, "length": int}
        ->  {"ok": true, "data": base64, "size": int (the file's whole size), "mtime": float}
    {"op": "files_write", "path": str, "offset": int, "data": base64, "truncate": bool}
        ->  {"ok": true, "size": int}  (creates the file and missing parent directories)
    refused  ->  {"ok": false, "status": "invalid_argument" | "not_found" |
                  "failed_precondition", "message": str}
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from typing import Any

MAX_CHUNK = 4 << 20  # bytes per read or write (the agent asks for less)
MAX_PAGE = 1000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Refused(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def handle(request: dict[str, Any], workdir: str) -> dict[str, Any]:
    try:
        op = request.get("op")
        if op == "files_list":
            return _list(request, workdir)
        if op == "files_read":
            return _read(request, workdir)
        if op == "files_write":
            return _write(request, workdir)
        raise Refused("invalid_argument", f"unknown request {op!r}")
    except Refused as exc:
        return {"ok": False, "status": exc.status, "message": str(exc)}
    except OSError as exc:
        return {"ok": False, "status": _status(exc), "message": _message(exc, request)}


def _list(request: dict[str, Any], workdir: str) -> dict[str, Any]:
    parts = _parts(request.get("path"), allow_root=True)
    offset, limit = _int(request, "offset", 0), _int(request, "limit", MAX_PAGE)
    limit = min(limit or MAX_PAGE, MAX_PAGE)
    with _opened_dir(workdir, parts, create=False) as fd:
        entries = []
        with os.scandir(fd) as it:
            for entry in it:
                info = entry.stat(follow_symlinks=False)
                entries.append(
                    {
                        "name": _printable(entry.name),
                        "kind": _kind(info.st_mode),
                        "size": info.st_size,
                        "mtime": info.st_mtime,
                    }
                )
    entries.sort(key=lambda e: str(e["name"]))
    return {"ok": True, "entries": entries[offset : offset + limit], "total": len(entries)}


def _read(request: dict[str, Any], workdir: str) -> dict[str, Any]:
    parts = _parts(request.get("path"), allow_root=False)
    offset, length = _int(request, "offset", 0), _int(request, "length", MAX_CHUNK)
    length = min(length or MAX_CHUNK, MAX_CHUNK)
    with _opened_dir(workdir, parts[:-1], create=False) as parent:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO: no wait
        fd = os.open(parts[-1], flags, dir_fd=parent)
    try:
        info = os.fstat(fd)
        _regular(info.st_mode)
        data = os.pread(fd, length, offset)
    finally:
        os.close(fd)
    encoded = base64.b64encode(data).decode()
    return {"ok": True, "data": encoded, "size": info.st_size, "mtime": info.st_mtime}


def _write(request: dict[str, Any], workdir: str) -> dict[str, Any]:
    parts = _parts(request.get("path"), allow_root=False)
    offset = _int(request, "offset", 0)
    raw = request.get("data", "")
    try:
        data = base64.b64decode(raw if isinstance(raw, str) else "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused("invalid_argument", "data: not base64") from exc
    if len(data) > MAX_CHUNK:
        raise Refused("invalid_argument", f"data: more than {MAX_CHUNK} bytes")
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    with _opened_dir(workdir, parts[:-1], create=True) as parent:
        fd = os.open(parts[-1], flags, 0o644, dir_fd=parent)
    try:
        _regular(os.fstat(fd).st_mode)  # before truncating: a FIFO or device is left alone
        if request.get("truncate"):
            os.ftruncate(fd, offset)
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], offset + written)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    return {"ok": True, "size": size}


@contextlib.contextmanager
def _opened_dir(workdir: str, parts: list[str], *, create: bool) -> Iterator[int]:
    """A descriptor of workdir/parts..., refusing symlinks at each step; `create`: mkdir -p."""
    fd = os.open(workdir, _DIR_FLAGS)
    try:
        for name in parts:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _parts(path: object, *, allow_root: bool) -> list[str]:
    if not isinstance(path, str):
        raise Refused("invalid_argument", "path: must be a string")
    if "\0" in path:
        raise Refused("invalid_argument", "path: must not contain NUL")
    if path.startswith("/"):
        raise Refused("invalid_argument", "path: must be relative to the work directory")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused("invalid_argument", "path: must not contain '..'")
    if not parts and not allow_root:
        raise Refused("invalid_argument", "path: names no file")
    return parts


def _int(request: dict[str, Any], key: str, default: int) -> int:
    value = request.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Refused("invalid_argument", f"{key}: must be a non-negative integer")
    return value


def _regular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise Refused("failed_precondition", "path: is a directory")
    if not stat.S_ISREG(mode):
        raise Refused("failed_precondition", "path: is not a regular file")


def _printable(name: str) -> str:
    """A name that is not UTF-8 on disk is shown with U+FFFD where its bad bytes are."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _status(exc: OSError) -> str:
    # ELOOP: a symlink where a directory or the file was expected (refused, as if absent).
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
        return "not_found"
    return "failed_precondition"  # EISDIR, EACCES, EROFS, ENOSPC, ...


def _message(exc: OSError, request: dict[str, Any]) -> str:
    path = request.get("path")
    if _status(exc) == "not_found":
        return f"path: {path!r} not found in the work directory"
    return f"path: {path!r}: {exc.strerror or exc}"
