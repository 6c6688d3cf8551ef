"""What streaming transfers need from a volume: one file written or read a piece at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

Parts = tuple[str, ...]


class UploadSink(Protocol):
    """A partial upload opened at `offset`; `finish` puts the complete file in place."""

    @property
    def offset(self) -> int: ...

    async def write(self, data: bytes) -> None: ...

    async def finish(self, *, overwrite: bool) -> None: ...

    async def close(self) -> None: ...


class DownloadSource(Protocol):
    @property
    def size(self) -> int: ...

    async def read(self, offset: int, length: int) -> bytes: ...

    async def close(self) -> None: ...


class FolderTransfers(Protocol):
    """Paths as in file_ports.FolderFiles: lexically valid, still resolved beneath `root`."""

    async def upload_offset(self, root: str, parts: Parts, size: int) -> int: ...

    async def open_upload(
        self, root: str, parts: Parts, *, size: int, offset: int
    ) -> UploadSink: ...

    async def open_download(self, root: str, parts: Parts) -> DownloadSource: ...

    def archive(self, root: str, parts: Parts) -> AsyncIterator[bytes]:
        """The directory as a zip, made while it is read; a path that is not a directory
        raises at the first read, before any byte."""
        ...
