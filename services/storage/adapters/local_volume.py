"""VolumeBackend on a local directory: `<root>/<first 2 hex of id>/<id>`.

Paths are built from the folder id only (parsed as a UUID), never from user input, so no name
can escape the root. Blocking filesystem calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from services.storage.domain.errors import VolumeOperationFailed

log = logging.getLogger(__name__)


class LocalVolume:
    """The `vfs` backend: a plain directory; capacity and usage, no enforced quota."""

    backend = "vfs"
    capabilities = ("capacity", "usage")

    def __init__(self, name: str, root: Path) -> None:
        self._name = name
        self._root = root.resolve()

    @property
    def name(self) -> str:
        return self._name

    @property
    def root(self) -> Path:
        return self._root

    async def ensure_root(self) -> None:
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)

    def path_of(self, vfolder_id: str) -> str:
        return str(self._path(vfolder_id))

    async def create_dir(self, vfolder_id: str) -> None:
        path = self._path(vfolder_id)
        try:
            await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            log.exception("cannot create %s", path)
            raise VolumeOperationFailed("the volume could not create the folder") from exc

    async def delete_dir(self, vfolder_id: str) -> None:
        path = self._path(vfolder_id)
        try:
            await asyncio.to_thread(shutil.rmtree, path, onerror=_ignore_missing)
        except OSError as exc:
            log.exception("cannot remove %s", path)
            raise VolumeOperationFailed("the volume could not remove the folder") from exc

    async def capacity(self) -> tuple[int, int]:
        st = await asyncio.to_thread(os.statvfs, self._root)
        size = st.f_blocks * st.f_frsize
        return size, size - st.f_bfree * st.f_frsize

    async def usage(self, vfolder_id: str) -> tuple[int, int]:
        path = self._path(vfolder_id)
        try:
            return await asyncio.to_thread(_usage, path)
        except OSError as exc:
            log.error("cannot measure %s: %s", path, exc)
            raise VolumeOperationFailed("the volume could not measure the folder") from exc

    def _path(self, vfolder_id: str) -> Path:
        key = str(uuid.UUID(vfolder_id))  # canonical form; raises on anything but a UUID
        return self._root / key[:2] / key


def _ignore_missing(
    _func: Any, _path: str, exc_info: tuple[type[BaseException], BaseException, TracebackType]
) -> None:
    # Already gone (a retry, or a concurrent delete) is what we want.
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]


def _usage(path: Path) -> tuple[int, int]:
    """Allocated bytes and entries below `path`: fd-based, links not followed, hard links once."""
    seen: set[tuple[int, int]] = set()
    used = count = 0
    if not path.is_dir():  # not made yet, or already removed
        return 0, 0
    for _dir, dirs, files, dir_fd in os.fwalk(path, follow_symlinks=False):
        for name in (*dirs, *files):
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:  # removed while we walked
                continue
            count += 1
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                if key in seen:
                    continue
                seen.add(key)
            used += st.st_blocks * 512
    return used, count
