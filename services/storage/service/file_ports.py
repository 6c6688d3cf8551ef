"""What the file operations need from a volume: work inside one folder's directory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.storage.domain.file_model import FilePage

Parts = tuple[str, ...]


class FolderFiles(Protocol):
    """Paths are lexically valid components (domain/relpath.py); implementations must still
    refuse any that resolve outside `root` through symbolic links (PathEscapesFolder)."""

    async def list_dir(self, root: str, parts: Parts, *, after: str, limit: int) -> FilePage: ...

    async def make_dir(self, root: str, parts: Parts, *, parents: bool, exist_ok: bool) -> None: ...

    async def move(self, root: str, source: Parts, destination: Parts) -> None: ...

    async def delete(self, root: str, paths: Sequence[Parts], *, recursive: bool) -> None: ...

    async def read_small(self, root: str, parts: Parts, *, limit: int) -> bytes: ...
