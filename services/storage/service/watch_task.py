"""WatchVFolderTask: a clone's progress as a stream of changes, ending with its outcome.

The task record is the truth (the clone writes its progress as it copies); the watch re-reads
it through the same access check as GetVFolderTask and sends it whenever it changed. An event id
names the progress it shows, so a watcher that resumes with the last id it saw gets only newer
progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from libs.core.identity import Caller
from services.storage.domain.tasks import TaskState, VFolderTask

POLL_SECONDS = 0.25
_STATES = (TaskState.RUNNING, TaskState.DONE, TaskState.FAILED)
_NAMES = {
    TaskState.RUNNING: "bgtask_updated",
    TaskState.DONE: "bgtask_done",
    TaskState.FAILED: "bgtask_failed",
}


class TaskReader(Protocol):
    async def get(self, caller: Caller, task_id: str) -> VFolderTask:
        """The task, if `caller` may read it (VFOLDER_TASK_NOT_FOUND otherwise)."""
        ...


def progress_id(task: VFolderTask) -> str:
    return f"{_STATES.index(task.state)}-{task.bytes_copied}-{task.files_copied}"


@dataclass(frozen=True, slots=True)
class WatchVFolderTask:
    tasks: TaskReader
    poll_seconds: float = POLL_SECONDS

    async def __call__(
        self, caller: Caller, task_id: str, last_event_id: str
    ) -> AsyncIterator[tuple[str, str, VFolderTask]]:
        """(event id, event name, task) for each change after `last_event_id`."""
        last = last_event_id
        while True:
            task = await self.tasks.get(caller, task_id)
            event_id = progress_id(task)
            if event_id != last:
                yield event_id, _NAMES[task.state], task
                last = event_id
            if task.state is not TaskState.RUNNING:
                return
            await asyncio.sleep(self.poll_seconds)
