"""Ports of the storage application layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol

from services.storage.domain.model import Cursor, FolderFilter, VFolder, VFolderStatus
from services.storage.service.sharing_ports import SharingRepository


class VFolderRepository(Protocol):
    async def add(self, folder: VFolder) -> None:
        """Insert. VFolderAlreadyExists when the owner has a live folder of that name."""
        ...

    async def get(self, vfolder_id: str, *, for_update: bool = False) -> VFolder:
        """Any status (deleting included). VFolderNotFound when there is no such row."""
        ...

    async def list(
        self, *, scope: FolderFilter, after: Cursor | None, limit: int
    ) -> Sequence[VFolder]:
        """Folders of `scope.status` (READY includes CLONING) within `scope`, ordered by
        (created_at, id), after `after`."""
        ...

    async def find_by_names(
        self,
        owner_user_id: str,
        names: Sequence[str],
        project_id: str = "",
        *,
        dot_folders: bool = False,
    ) -> Sequence[VFolder]:
        """Ready folders among `names` (and every dot-folder, with `dot_folders`) of the owner,
        shared with them, or of `project_id`."""
        ...

    async def set_status(self, vfolder_id: str, status: VFolderStatus) -> None:
        """Moving to TRASHED stamps trashed_at; leaving it clears it. VFolderAlreadyExists when
        a restored folder's name is taken by a live one meanwhile."""
        ...

    async def update(self, folder: VFolder) -> None:
        """Store name, permission, usage mode and cloneable. VFolderAlreadyExists on a name
        clash with another live folder of the owner."""
        ...

    async def trashed_before(self, cutoff: datetime, limit: int) -> Sequence[str]:
        """Ids of folders trashed before `cutoff`, locked (others skip them), oldest first."""
        ...

    async def delete(self, vfolder_id: str) -> None:
        """Remove the row; a missing row is a no-op."""
        ...


class UnitOfWork(Protocol):
    """One transaction: leaving the context without commit() rolls back."""

    @property
    def vfolders(self) -> VFolderRepository: ...

    @property
    def sharing(self) -> SharingRepository: ...

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
Clock = Callable[[], datetime]


class VolumeBackend(Protocol):
    """A volume that holds folder directories, addressed by folder id only (never by name)."""

    @property
    def name(self) -> str: ...

    async def create_dir(self, vfolder_id: str) -> None:
        """Create the folder's empty directory (idempotent). VolumeOperationFailed on errors."""
        ...

    async def delete_dir(self, vfolder_id: str) -> None:
        """Remove the directory and its contents (idempotent: a missing one is a no-op)."""
        ...

    def path_of(self, vfolder_id: str) -> str:
        """Absolute host path of the folder's directory."""
        ...

    @property
    def backend(self) -> str:
        """The backend's kind ("vfs")."""
        ...

    @property
    def capabilities(self) -> tuple[str, ...]: ...

    async def capacity(self) -> tuple[int, int]:
        """(size, used) in bytes of the filesystem holding the volume."""
        ...

    async def usage(self, vfolder_id: str) -> tuple[int, int]:
        """(bytes, entries) under the folder's directory, never following links."""
        ...
