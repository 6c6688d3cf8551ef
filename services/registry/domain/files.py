"""Files beneath a session's main kernel's work directory, as its agent reports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

KINDS = ("file", "directory", "symlink", "other")


@dataclass(frozen=True, slots=True)
class KernelFileEntry:
    name: str
    kind: str  # one of KINDS
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class KernelFilePage:
    entries: tuple[KernelFileEntry, ...]
    total: int  # entries in the whole directory


@dataclass(frozen=True, slots=True)
class KernelFilePiece:
    data: bytes
    size: int  # the whole file's
    modified: datetime
