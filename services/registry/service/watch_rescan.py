"""WatchRescanTask: a rescan's progress as a stream of changes, ending with its outcome.

The task record is the truth (rescan.py writes its progress at most every PROGRESS_INTERVAL);
the watch re-reads it and sends it whenever it changed. An event id names the progress it
shows, so a watcher that resumes with the last id it saw gets only newer progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from services.registry.domain.images import RescanTask, TaskState

POLL_SECONDS = 0.25
_STATES = (TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED)
_NAMES = {
    TaskState.RUNNING: "bgtask_updated",
    TaskState.SUCCEEDED: "bgtask_done",
    TaskState.FAILED: "bgtask_failed",
}


class RescanReader(Protocol):
    async def get(self, task_id: str) -> RescanTask:
        """The task (RescanTaskNotFound if there is none)."""
        ...


def progress_id(task: RescanTask) -> str:
    return f"{_STATES.index(task.state)}-{task.done}-{task.total}-{len(task.messages)}"


@dataclass(frozen=True, slots=True)
class WatchRescan:
    rescans: RescanReader
    poll_seconds: float = POLL_SECONDS

    async def __call__(
        self, task_id: str, last_event_id: str
    ) -> AsyncIterator[tuple[str, str, RescanTask]]:
        """(event id, event name, task) for each change after `last_event_id`."""
        last = last_event_id
        while True:
            task = await self.rescans.get(task_id)
            event_id = progress_id(task)
            if event_id != last:
                yield event_id, _NAMES[task.state], task
                last = event_id
            if task.state is not TaskState.RUNNING:
                return
            await asyncio.sleep(self.poll_seconds)
