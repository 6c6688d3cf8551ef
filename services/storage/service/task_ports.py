"""What clones need: the task table (with the status moves around it) and a tree copier."""

from __future__ import annotations

from typing import Protocol

from services.storage.domain.model import VFolder
from services.storage.domain.tasks import VFolderTask


class Progress(Protocol):
    bytes_copied: int
    files_copied: int


class TaskStore(Protocol):
    async def get(self, task_id: str) -> VFolderTask | None: ...

    async def running(self) -> list[VFolderTask]: ...

    async def start(self, task: VFolderTask, target: VFolder) -> bool:
        """Atomically: source ready → cloning, target row added, task added. False when the
        source is not ready; VFolderAlreadyExists when the target's name is taken."""
        ...

    async def progress(self, task_id: str, bytes_copied: int, files_copied: int) -> None: ...

    async def settle(
        self, task: VFolderTask, *, ok: bool, bytes_copied: int, files_copied: int, error: str
    ) -> None: ...


class TreeCopier(Protocol):
    async def copy(self, source_root: str, target_root: str, progress: Progress) -> None: ...
