"""Copy one folder's tree into another's directory, fd by fd, never following a link.

Directories are opened with O_NOFOLLOW relative to their parent's fd, so a link swapped in while
we copy cannot lead the copy outside the source folder (or the writes outside the target).
Links are copied as links (their text, never their target); sockets, pipes and devices are
skipped. Regular files keep their permission bits. Progress (bytes, entries) is published in a
`CopyProgress` the caller reads while the copy runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from dataclasses import dataclass

from services.storage.adapters.folder_files import closing_fd
from services.storage.service.task_ports import Progress

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 8 * 1024 * 1024
_NO_COPY_RANGE = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}


@dataclass(slots=True)
class CopyProgress:
    bytes_copied: int = 0
    files_copied: int = 0


class LocalTreeCopier:
    async def copy(self, source_root: str, target_root: str, progress: Progress) -> None:
        await asyncio.to_thread(_copy_roots, source_root, target_root, progress)


def _copy_roots(source_root: str, target_root: str, progress: Progress) -> None:
    with (
        closing_fd(os.open(source_root, _DIR)) as src,
        closing_fd(os.open(target_root, _DIR)) as dst,
    ):
        _copy_dir(src, dst, progress)


def _copy_dir(src: int, dst: int, progress: Progress) -> None:
    with os.scandir(src) as entries:
        names = [e.name for e in entries]
    for name in names:
        try:
            st = os.stat(name, dir_fd=src, follow_symlinks=False)
        except FileNotFoundError:  # removed while we copied
            continue
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(name, stat.S_IMODE(mode) | 0o700, dir_fd=dst)
            with (
                closing_fd(os.open(name, _DIR, dir_fd=src)) as sub_src,
                closing_fd(os.open(name, _DIR, dir_fd=dst)) as sub_dst,
            ):
                _copy_dir(sub_src, sub_dst, progress)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISREG(mode):
            _copy_file(src, dst, name, stat.S_IMODE(mode), progress)
        else:
            continue
        progress.files_copied += 1


def _copy_file(src: int, dst: int, name: str, mode: int, progress: Progress) -> None:
    flags_in = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags_out = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with (
        closing_fd(os.open(name, flags_in, dir_fd=src)) as fin,
        closing_fd(os.open(name, flags_out, mode, dir_fd=dst)) as fout,
    ):
        while True:
            try:
                n = os.copy_file_range(fin, fout, _CHUNK)
            except OSError as exc:  # unsupported between these files: plain reads and writes
                if exc.errno not in _NO_COPY_RANGE:
                    raise
                n = _copy_chunk(fin, fout)
            if n == 0:
                break
            progress.bytes_copied += n
        os.fsync(fout)


def _copy_chunk(fin: int, fout: int) -> int:
    data = os.read(fin, _CHUNK)
    view = memoryview(data)
    while view:
        view = view[os.write(fout, view) :]
    return len(data)
