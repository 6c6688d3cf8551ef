"""DeleteVFolder (to the trash, or for good), RestoreVFolder, and purging an expired trash.

Deleting for good marks the row `deleting`, removes the directory, then deletes the row. Each
step is idempotent, so a crash anywhere leaves at worst a `deleting` row (hidden from lists and
mounts) that a retry of the same call, or the trash sweeper, finishes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from libs.core.access import Verb
from libs.core.errors import PermissionDenied
from libs.core.identity import Caller
from services.storage.domain.access import canonical_id, may
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.file_errors import FolderNotReady
from services.storage.domain.model import MountPermission, VFolder, VFolderStatus
from services.storage.domain.sharing import effective_permission
from services.storage.service.mount_gate import MountGate
from services.storage.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from services.storage.service.volumes import Volumes

log = logging.getLogger(__name__)


class DeleteVFolder:
    def __init__(
        self, *, uow: UnitOfWorkFactory, volumes: Volumes, gate: MountGate | None = None
    ) -> None:
        self._uow = uow
        self._volumes = volumes
        self._gate = gate

    async def __call__(self, caller: Caller, *, vfolder_id: str, purge: bool = False) -> None:
        async with self._uow() as uow:
            folder = await _deletable(uow, caller, vfolder_id)
            if folder.status is VFolderStatus.CLONING:
                raise FolderNotReady(f"vfolder {folder.id} is being cloned; delete it afterwards")
            if self._gate is not None and folder.status is VFolderStatus.READY:
                await self._gate.refuse_if_mounted(folder, "delete")
            if not purge:
                if folder.status is VFolderStatus.READY:
                    await uow.vfolders.set_status(folder.id, VFolderStatus.TRASHED)
                    await uow.commit()
                return  # already trashed (or being deleted): nothing more to do
            if folder.status is not VFolderStatus.DELETING:
                await uow.vfolders.set_status(folder.id, VFolderStatus.DELETING)
                await uow.commit()
        # From here the work must finish even if the client goes away.
        await asyncio.shield(purge_folder(self._uow, self._volumes, folder))

    async def restore(self, caller: Caller, *, vfolder_id: str) -> VFolder:
        async with self._uow() as uow:
            folder = await _deletable(uow, caller, vfolder_id)
            if folder.status is VFolderStatus.DELETING:
                raise VFolderNotFound(f"vfolder {folder.id} not found")
            if folder.status is not VFolderStatus.TRASHED:
                return folder  # a retried restore
            await uow.vfolders.set_status(folder.id, VFolderStatus.READY)
            await uow.commit()
        return replace(folder, status=VFolderStatus.READY, trashed_at=None)


async def purge_folder(uow_factory: UnitOfWorkFactory, volumes: Volumes, folder: VFolder) -> None:
    await volumes.of(folder).delete_dir(folder.id)
    async with uow_factory() as uow:
        await uow.vfolders.delete(folder.id)
        await uow.commit()


class TrashSweeper:
    """Deletes for good what stayed in the trash longer than the retention period."""

    def __init__(
        self, *, uow: UnitOfWorkFactory, volumes: Volumes, retention: timedelta, clock: Clock
    ) -> None:
        self._uow = uow
        self._volumes = volumes
        self._retention = retention
        self._clock = clock

    async def sweep(self, batch: int = 100) -> int:
        """One pass; how many folders it purged. Replicas skip each other's rows."""
        cutoff: datetime = self._clock() - self._retention
        purged = 0
        async with self._uow() as uow:
            expired = await uow.vfolders.trashed_before(cutoff, batch)
            folders = [await uow.vfolders.get(i) for i in expired]
            for folder in folders:
                await uow.vfolders.set_status(folder.id, VFolderStatus.DELETING)
            await uow.commit()
        for folder in folders:
            try:
                await purge_folder(self._uow, self._volumes, folder)
                purged += 1
            except Exception:  # one bad directory must not stop the others (left `deleting`)
                log.exception("could not purge trashed folder %s", folder.id)
        return purged


async def _deletable(uow: UnitOfWork, caller: Caller, vfolder_id: str) -> VFolder:
    folder_id = canonical_id(vfolder_id)
    if folder_id is None:
        raise VFolderNotFound(f"vfolder {vfolder_id} not found")
    folder = await uow.vfolders.get(folder_id, for_update=True)
    if not may(caller, Verb.DELETE, folder):
        await _check_shared_delete(uow, caller, folder)
    return folder


async def _check_shared_delete(uow: UnitOfWork, caller: Caller, folder: VFolder) -> None:
    """Users a folder is shared with delete it only with `wd`; those who cannot see it get the
    same answer as for a missing folder, so they cannot probe for its existence."""
    me = canonical_id(caller.user_id)
    grants = await uow.sharing.grants_for(me, [folder.id]) if me else {}
    permission = effective_permission(caller, folder, grants.get(folder.id))
    if permission is None:
        raise VFolderNotFound(f"vfolder {folder.id} not found")
    if grants.get(folder.id) is not MountPermission.READ_WRITE_DELETE:
        raise PermissionDenied(f"vfolder {folder.id} is shared with you without delete rights")
