"""DeleteVFolder: mark deleting, remove the directory, then delete the row.

Each step is idempotent, so a crash anywhere leaves at worst a `deleting` row (hidden from lists
and mounts) that a retry of the same call finishes.
"""

from __future__ import annotations

import asyncio

from libs.core.access import Verb
from libs.core.errors import PermissionDenied
from libs.core.identity import Caller
from services.storage.domain.access import canonical_id, may
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.model import MountPermission, VFolder, VFolderStatus
from services.storage.domain.sharing import effective_permission
from services.storage.service.ports import UnitOfWork, UnitOfWorkFactory
from services.storage.service.volumes import Volumes


class DeleteVFolder:
    def __init__(self, *, uow: UnitOfWorkFactory, volumes: Volumes) -> None:
        self._uow = uow
        self._volumes = volumes

    async def __call__(self, caller: Caller, *, vfolder_id: str) -> None:
        folder_id = canonical_id(vfolder_id)
        if folder_id is None:
            raise VFolderNotFound(f"vfolder {vfolder_id} not found")
        async with self._uow() as uow:
            folder = await uow.vfolders.get(folder_id, for_update=True)
            if not may(caller, Verb.DELETE, folder):
                await _check_shared_delete(uow, caller, folder)
            if folder.status is not VFolderStatus.DELETING:
                await uow.vfolders.set_status(folder.id, VFolderStatus.DELETING)
                await uow.commit()
        # From here the work must finish even if the client goes away.
        await asyncio.shield(self._purge(folder))

    async def _purge(self, folder: VFolder) -> None:
        await self._volumes.of(folder).delete_dir(folder.id)
        async with self._uow() as uow:
            await uow.vfolders.delete(folder.id)
            await uow.commit()


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
