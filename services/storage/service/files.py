"""Browsing and changing the files inside a folder, for whoever may read or write it.

A folder the caller may not see is VFOLDER_NOT_FOUND, as for a missing one (no existence leak);
one they may see but not write (read-only for them: domain/sharing.py) is PERMISSION_DENIED.
Only ready folders take file operations.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from services.storage.domain import file_errors as fe
from services.storage.domain.access import canonical_id
from services.storage.domain.errors import InvalidPageToken, VFolderNotFound
from services.storage.domain.file_model import FilePage
from services.storage.domain.model import MountPermission, VFolder, VFolderStatus
from services.storage.domain.relpath import path_parts
from services.storage.domain.sharing import at_least, effective_permission
from services.storage.service.file_ports import FolderFiles
from services.storage.service.ports import UnitOfWorkFactory
from services.storage.service.volumes import Volumes

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 5000
MAX_FETCH_BYTES = 4 * 1024 * 1024


class FileOperations:
    def __init__(self, *, uow: UnitOfWorkFactory, volumes: Volumes, files: FolderFiles) -> None:
        self._uow = uow
        self._volumes = volumes
        self._files = files

    async def list(
        self, caller: Caller, vfolder_id: str, path: str, *, page_size: int, page_token: str
    ) -> tuple[FilePage, str]:
        """One page of a directory and the token of the next ("" at the end)."""
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                "invalid page size",
                violations=[FieldViolation("page_size", f"must be in 0..{MAX_PAGE_SIZE}")],
            )
        parts = path_parts(path, "path", allow_root=True)
        root = await self.folder_root(caller, vfolder_id, write=False)
        page = await self._files.list_dir(
            root, parts, after=_decode(page_token), limit=page_size or DEFAULT_PAGE_SIZE
        )
        return page, _encode(page.last_name) if page.last_name else ""

    async def make_dir(
        self, caller: Caller, vfolder_id: str, path: str, *, parents: bool, exist_ok: bool
    ) -> None:
        parts = path_parts(path, "path")
        root = await self.folder_root(caller, vfolder_id, write=True)
        await self._files.make_dir(root, parts, parents=parents, exist_ok=exist_ok)

    async def move(self, caller: Caller, vfolder_id: str, source: str, destination: str) -> None:
        src = path_parts(source, "source_path")
        dst = path_parts(destination, "destination_path")
        if dst[: len(src)] == src:
            raise fe.InvalidMove(
                "cannot move a path into itself",
                violations=[FieldViolation("destination_path", "lies inside source_path")],
            )
        root = await self.folder_root(caller, vfolder_id, write=True)
        await self._files.move(root, src, dst)

    async def delete(
        self, caller: Caller, vfolder_id: str, paths: Sequence[str], *, recursive: bool
    ) -> None:
        parts = [path_parts(p, "paths") for p in paths]
        root = await self.folder_root(caller, vfolder_id, write=True)
        await self._files.delete(root, parts, recursive=recursive)

    async def fetch(self, caller: Caller, vfolder_id: str, path: str) -> bytes:
        parts = path_parts(path, "path")
        root = await self.folder_root(caller, vfolder_id, write=False)
        return await self._files.read_small(root, parts, limit=MAX_FETCH_BYTES)

    async def folder_root(self, caller: Caller, vfolder_id: str, *, write: bool) -> str:
        return (await self.folder_and_root(caller, vfolder_id, write=write))[1]

    async def folder_and_root(
        self, caller: Caller, vfolder_id: str, *, write: bool
    ) -> tuple[VFolder, str]:
        """The folder and its directory, if the caller may read (or `write`) it and it is ready."""
        folder, permission = await self.visible(caller, vfolder_id)
        if write and not at_least(permission, MountPermission.READ_WRITE):
            raise fe.FolderReadOnly(f"vfolder {folder.id} is shared with you read-only")
        readable = (VFolderStatus.READY,) if write else (VFolderStatus.READY, VFolderStatus.CLONING)
        if folder.status not in readable:
            raise fe.FolderNotReady(f"vfolder {folder.id} is {folder.status.value}")
        return folder, self._volumes.of(folder).path_of(folder.id)

    async def visible(self, caller: Caller, vfolder_id: str) -> tuple[VFolder, MountPermission]:
        folder_id = canonical_id(vfolder_id)
        missing = VFolderNotFound(f"vfolder {vfolder_id} not found")
        if folder_id is None:
            raise missing
        me = canonical_id(caller.user_id)
        async with self._uow() as uow:
            try:
                folder = await uow.vfolders.get(folder_id)
            except VFolderNotFound:
                raise missing from None
            grants = await uow.sharing.grants_for(me, [folder_id]) if me else {}
        permission = effective_permission(caller, folder, grants.get(folder_id))
        if permission is None:
            raise missing
        return folder, permission


def _encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8", "surrogateescape")).decode()


def _decode(token: str) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8", "surrogateescape")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidPageToken from exc
