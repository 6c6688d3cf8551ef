"""The `mounted` status gate: a folder a live session mounts is shown as mounted and cannot be
deleted or renamed; it is ready again once those sessions end (the registry knows which)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Protocol

from libs.core.errors import Unavailable
from services.storage.domain.errors import VFolderMounted
from services.storage.domain.model import VFolder, VFolderStatus

log = logging.getLogger(__name__)


class MountedFolderLookup(Protocol):
    async def mounted(self, vfolder_ids: Sequence[str]) -> set[str]: ...


class MountGate:
    def __init__(self, lookup: MountedFolderLookup) -> None:
        self._lookup = lookup

    async def refuse_if_mounted(self, folder: VFolder, action: str) -> None:
        if await self._lookup.mounted([folder.id]):
            raise VFolderMounted(
                f"vfolder {folder.name!r} is mounted by a session; {action} it after the "
                "session ends",
                metadata={"vfolder_id": folder.id},
            )

    async def mark(self, folders: Sequence[VFolder]) -> tuple[VFolder, ...]:
        """The folders with READY turned to MOUNTED where a live session uses them."""
        ready = [f.id for f in folders if f.status is VFolderStatus.READY]
        try:
            used = await self._lookup.mounted(ready) if ready else set()
        except Unavailable:
            # A listing still answers; deletes and renames wait for the registry instead.
            log.warning("registry unavailable: folders listed without their mounted status")
            return tuple(folders)
        return tuple(
            dataclasses.replace(f, status=VFolderStatus.MOUNTED) if f.id in used else f
            for f in folders
        )
