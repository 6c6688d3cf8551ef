"""What a directory listing hands back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class FileKind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEntry:
    name: str
    kind: FileKind
    size: int
    mode: int  # permission bits only
    modified_at: datetime
    symlink_target: str = ""  # for symbolic links: as stored, never followed


@dataclass(frozen=True, slots=True, kw_only=True)
class FilePage:
    entries: tuple[FileEntry, ...]
    # The last name returned when more may follow; "" at the end of the directory.
    last_name: str
