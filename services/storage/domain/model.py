"""Virtual folders and the values the use cases hand back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class VFolderStatus(StrEnum):
    READY = "ready"
    # A clone is copying from it: readable, not changeable.
    CLONING = "cloning"
    # In the trash: invisible to mounts and file operations, restorable until purged.
    TRASHED = "trashed"
    # Set before the directory is removed; such a row is invisible to lists and mounts.
    DELETING = "deleting"
    # Being filled by a clone: invisible to lists, mounts and file operations until ready.
    PERFORMING = "performing"
    # Ready and used by a live session (never stored: listings derive it from the registry).
    MOUNTED = "mounted"


class UsageMode(StrEnum):
    GENERAL = "general"
    MODEL = "model"
    DATA = "data"


class MountPermission(StrEnum):
    """How sessions mount a folder, and what a user it is shared with may do (Backend.AI's
    `ro` / `rw` / `wd`): read; read and write; read, write and delete the folder itself."""

    READ_WRITE = "rw"
    READ_ONLY = "ro"
    READ_WRITE_DELETE = "wd"


@dataclass(frozen=True, slots=True, kw_only=True)
class VFolder:
    id: str
    name: str
    owner_user_id: str
    volume: str
    status: VFolderStatus
    created_at: datetime
    domain_name: str = ""
    project_id: str = ""  # set for project folders, shared by the project's members
    permission: MountPermission = MountPermission.READ_WRITE
    usage_mode: UsageMode = UsageMode.GENERAL
    cloneable: bool = False
    trashed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderFilter:
    """Which folders a listing may show; None fields do not narrow. A folder matches the
    owner/project part when it is the owner's or belongs to one of the projects."""

    owner_user_id: str | None = None
    project_ids: tuple[str, ...] = ()
    domain_name: str | None = None
    status: VFolderStatus = VFolderStatus.READY  # READY lists usable folders (cloning too)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cursor:
    """Keyset position: the last (created_at, id) a page returned."""

    created_at: datetime
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VFolderPage:
    vfolders: tuple[VFolder, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    vfolder_id: str
    name: str
    host_path: str
    read_only: bool = False
    kernel_path: str = ""  # absolute, below /home/work
