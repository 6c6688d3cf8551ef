"""Opening paths strictly beneath a directory, with no way out through symbolic links.

Folders are mounted read-write into kernels, so their owners control every symbolic link inside
them and can swap one between a check and a use. A lexical check on the resolved path would race;
instead the kernel resolves: openat2(2) with RESOLVE_BENEATH refuses (EXDEV) any resolution that
would leave the starting directory, whether by "..", an absolute link or a relative one, atomically.
Where openat2 is missing (ENOSYS: older kernels, strict seccomp) we walk component by component
with O_NOFOLLOW and refuse every symbolic link on the way, which is stricter but just as safe.
"""

from __future__ import annotations

import ctypes
import errno
import os

_SYS_OPENAT2 = 437  # the same number on x86_64 and aarch64
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_RENAME_NOREPLACE = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


_have_openat2 = True


def open_beneath(dir_fd: int, relpath: str, flags: int, mode: int = 0) -> int:
    """A new fd for `relpath` resolved beneath `dir_fd`. OSError(EXDEV) when it would escape."""
    global _have_openat2
    if relpath in ("", "."):
        return os.dup(dir_fd)
    if _have_openat2:
        how = _OpenHow(flags | os.O_CLOEXEC, mode, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
        fd = _libc.syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(os.fsencode(relpath)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err != errno.ENOSYS:
            raise OSError(err, os.strerror(err), relpath)
        _have_openat2 = False
    return _walk_nofollow(dir_fd, relpath, flags, mode)


def _walk_nofollow(dir_fd: int, relpath: str, flags: int, mode: int) -> int:
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if relpath.startswith("/") or ".." in parts:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), relpath)
    current = os.dup(dir_fd)
    try:
        for part in parts[:-1]:
            nxt = _open_nofollow(current, part, os.O_RDONLY | os.O_DIRECTORY, 0)
            os.close(current)
            current = nxt
        return _open_nofollow(current, parts[-1], flags, mode)
    finally:
        os.close(current)


def _open_nofollow(dir_fd: int, name: str, flags: int, mode: int) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symbolic link: not followed in this mode
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), name) from exc
        raise


def rename_noreplace(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    """renameat2(RENAME_NOREPLACE): EEXIST instead of silently replacing the destination."""
    result = _libc.renameat2(
        ctypes.c_int(src_dir),
        ctypes.c_char_p(os.fsencode(src)),
        ctypes.c_int(dst_dir),
        ctypes.c_char_p(os.fsencode(dst)),
        ctypes.c_uint(_RENAME_NOREPLACE),
    )
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), dst)
