"""What the volumes hold: their capacity and capabilities, and one folder's usage."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.identity import Caller
from services.storage.service.files import FileOperations
from services.storage.service.volumes import Volumes


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeStatus:
    name: str
    backend: str
    capabilities: tuple[str, ...]
    capacity_bytes: int
    used_bytes: int
    is_default: bool


@dataclass(frozen=True, slots=True)
class FolderUsage:
    used_bytes: int
    file_count: int


class VolumeInfo:
    def __init__(self, *, volumes: Volumes, files: FileOperations) -> None:
        self._volumes = volumes
        self._files = files

    async def list_volumes(self) -> list[VolumeStatus]:
        found = []
        for volume in self._volumes.all():
            size, used = await volume.capacity()
            found.append(
                VolumeStatus(
                    name=volume.name,
                    backend=volume.backend,
                    capabilities=volume.capabilities,
                    capacity_bytes=size,
                    used_bytes=used,
                    is_default=volume.name == self._volumes.default,
                )
            )
        return found

    async def folder_usage(self, caller: Caller, vfolder_id: str) -> FolderUsage:
        """Usage of a folder the caller can see (VFOLDER_NOT_FOUND otherwise)."""
        folder, _permission = await self._files.visible(caller, vfolder_id)
        used, count = await self._volumes.of(folder).usage(folder.id)
        return FolderUsage(used, count)
