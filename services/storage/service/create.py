"""CreateVFolder: a row and its directory, both or neither."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from libs.core.identity import Caller
from libs.core.ids import new_id
from services.storage.domain.access import owner_id_of
from services.storage.domain.errors import ProjectNotFound
from services.storage.domain.model import MountPermission, UsageMode, VFolder, VFolderStatus
from services.storage.domain.names import check_name
from services.storage.service.limits import FolderLimits
from services.storage.service.ports import Clock, UnitOfWorkFactory, VolumeBackend
from services.storage.service.volumes import Volumes

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class CreateVFolder:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        volumes: Volumes,
        clock: Clock = utc_now,
        limits: FolderLimits | None = None,
    ) -> None:
        self._uow = uow
        self._volumes = volumes
        self._clock = clock
        self._limits = limits

    async def __call__(
        self,
        caller: Caller,
        *,
        name: str,
        volume: str = "",
        project_id: str = "",
        permission: MountPermission = MountPermission.READ_WRITE,
        usage_mode: UsageMode = UsageMode.GENERAL,
        cloneable: bool = False,
    ) -> VFolder:
        owner = owner_id_of(caller)
        check_name(name, project=bool(project_id))
        if project_id and project_id not in caller.project_ids:
            raise ProjectNotFound.named(project_id)
        backend = self._volumes.get(volume)
        if self._limits is not None:
            await self._limits.before_create(caller, volume=backend.name, project=bool(project_id))
        folder = VFolder(
            id=new_id(),
            name=name,
            owner_user_id=owner,
            volume=backend.name,
            status=VFolderStatus.READY,
            created_at=self._clock(),
            domain_name=caller.domain_name,
            project_id=project_id,
            permission=permission,
            usage_mode=usage_mode,
            cloneable=cloneable,
        )
        # Shielded: a client cancelling mid-way must not strand a directory without its row.
        await asyncio.shield(self._create(folder, backend))
        return folder

    async def _create(self, folder: VFolder, backend: VolumeBackend) -> None:
        async with self._uow() as uow:
            # Insert first: a duplicate name fails here, before anything touches the disk.
            await uow.vfolders.add(folder)
            try:
                await backend.create_dir(folder.id)
                await uow.commit()
            except BaseException:
                await _remove_quietly(backend, folder.id)
                raise


async def _remove_quietly(backend: VolumeBackend, vfolder_id: str) -> None:
    # Best effort: the original error is the one the caller must see.
    try:
        await backend.delete_dir(vfolder_id)
    except Exception:
        log.exception("could not remove the directory of uncreated folder %s", vfolder_id)
