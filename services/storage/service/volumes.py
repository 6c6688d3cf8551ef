"""The configured volumes, by name, with the default one for new folders."""

from __future__ import annotations

from collections.abc import Iterable

from services.storage.domain.errors import UnknownVolume, VolumeNotConfigured
from services.storage.domain.model import VFolder
from services.storage.service.ports import VolumeBackend


class Volumes:
    def __init__(self, backends: Iterable[VolumeBackend], *, default: str) -> None:
        self._by_name = {b.name: b for b in backends}
        if default not in self._by_name:
            raise UnknownVolume.named(default)
        self.default = default

    def all(self) -> list[VolumeBackend]:
        return sorted(self._by_name.values(), key=lambda b: b.name)

    def get(self, name: str) -> VolumeBackend:
        """The volume a caller asked for ("" = the default). UnknownVolume when not configured."""
        backend = self._by_name.get(name or self.default)
        if backend is None:
            raise UnknownVolume.named(name)
        return backend

    def of(self, folder: VFolder) -> VolumeBackend:
        """The volume an existing folder lives on."""
        backend = self._by_name.get(folder.volume)
        if backend is None:
            raise VolumeNotConfigured(
                f"volume {folder.volume!r} of folder {folder.id} is not configured",
                metadata={"volume": folder.volume},
            )
        return backend
