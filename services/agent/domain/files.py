"""Files beneath a kernel's work directory, as the runner reports them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FileKind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str
    kind: FileKind
    size: int
    mtime: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class FilePage:
    entries: tuple[FileEntry, ...]
    total: int  # entries in the whole directory


@dataclass(frozen=True, slots=True)
class FilePiece:
    data: bytes
    size: int  # the whole file's
    mtime: float
