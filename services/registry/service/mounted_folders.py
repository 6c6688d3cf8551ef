"""Which folders live sessions mount: storage asks before deleting or renaming one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class MountedFolderQuery(Protocol):
    async def mounted(self, vfolder_ids: Sequence[str]) -> set[str]: ...


class MountedFolders:
    def __init__(self, query: MountedFolderQuery) -> None:
        self._query = query

    async def __call__(self, vfolder_ids: Sequence[str]) -> list[str]:
        if not vfolder_ids:
            return []
        found = await self._query.mounted(list(dict.fromkeys(vfolder_ids)))
        return sorted(found)
