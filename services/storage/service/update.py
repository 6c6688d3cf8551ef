"""UpdateVFolder: rename a folder or change its options; its owner (or an admin over it) only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from libs.core.errors import FieldViolation, InvalidArgument, PermissionDenied
from libs.core.identity import Caller
from services.storage.domain.access import canonical_id
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.file_errors import FolderNotReady
from services.storage.domain.model import MountPermission, UsageMode, VFolder, VFolderStatus
from services.storage.domain.names import check_name
from services.storage.domain.sharing import effective_permission
from services.storage.service.mount_gate import MountGate
from services.storage.service.ports import UnitOfWorkFactory

FIELDS = frozenset({"name", "permission", "usage_mode", "cloneable"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FolderChanges:
    name: str = ""
    permission: MountPermission = MountPermission.READ_WRITE
    usage_mode: UsageMode = UsageMode.GENERAL
    cloneable: bool = False


class UpdateVFolder:
    def __init__(self, *, uow: UnitOfWorkFactory, gate: MountGate | None = None) -> None:
        self._uow = uow
        self._gate = gate

    async def __call__(
        self, caller: Caller, vfolder_id: str, changes: FolderChanges, paths: Sequence[str]
    ) -> VFolder:
        unknown = sorted(set(paths) - FIELDS)
        if unknown or not paths:
            raise InvalidArgument(
                "invalid update_mask",
                violations=[FieldViolation("update_mask", f"name fields among {sorted(FIELDS)}")],
            )
        folder_id = canonical_id(vfolder_id)
        if folder_id is None:
            raise VFolderNotFound(f"vfolder {vfolder_id} not found")
        async with self._uow() as uow:
            folder = await uow.vfolders.get(folder_id, for_update=True)
            me = canonical_id(caller.user_id)
            grants = await uow.sharing.grants_for(me, [folder.id]) if me else {}
            permission = effective_permission(caller, folder, grants.get(folder.id))
            if permission is None or folder.status is VFolderStatus.DELETING:
                raise VFolderNotFound(f"vfolder {vfolder_id} not found")
            owns = folder.owner_user_id == me
            administers = (
                permission is MountPermission.READ_WRITE_DELETE and folder.id not in grants
            )
            if not (owns or (administers and caller.is_admin)):
                raise PermissionDenied("only the folder's owner or an admin changes it")
            if folder.status is not VFolderStatus.READY:
                raise FolderNotReady(f"vfolder {folder.id} is {folder.status.value}")
            if self._gate is not None and "name" in paths and changes.name != folder.name:
                # Sessions find their folders by name: a running one would lose track of it.
                await self._gate.refuse_if_mounted(folder, "rename")
            updated = _apply(folder, changes, paths)
            await uow.vfolders.update(updated)
            await uow.commit()
        return updated


def _apply(folder: VFolder, changes: FolderChanges, paths: Sequence[str]) -> VFolder:
    values: dict[str, object] = {}
    if "name" in paths:
        check_name(changes.name, "vfolder.name", project=bool(folder.project_id))
        values["name"] = changes.name
    if "permission" in paths:
        values["permission"] = changes.permission
    if "usage_mode" in paths:
        values["usage_mode"] = changes.usage_mode
    if "cloneable" in paths:
        values["cloneable"] = changes.cloneable
    return dataclasses.replace(folder, **values)  # type: ignore[arg-type]
