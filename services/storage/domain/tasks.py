"""Folder tasks: background work (clones) with progress a user can follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from libs.core.errors import NotFound, PermissionDenied


class TaskState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class VFolderTask:
    id: str
    kind: str  # "clone"
    owner_user_id: str  # who started it
    source_id: str
    target_id: str
    state: TaskState
    bytes_copied: int
    files_copied: int
    error: str
    created_at: datetime
    updated_at: datetime


class TaskNotFound(NotFound):
    reason = "VFOLDER_TASK_NOT_FOUND"


class NotCloneable(PermissionDenied):
    """Only cloneable folders, or folders the caller manages, are cloned."""

    reason = "VFOLDER_NOT_CLONEABLE"
