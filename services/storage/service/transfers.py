"""Streaming uploads and downloads, and the signed tokens that authorise transfers over HTTP.

The same rules as every file operation (service/files.py): a folder the caller cannot see is not
found, uploading needs write permission, only ready folders take transfers, and every path is
resolved beneath the folder's root. An upload is resumable: a stream may stop anywhere, and the
next one starts at GetUploadOffset's answer; the file appears only once complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from services.storage.domain import transfer_token as tt
from services.storage.domain.relpath import path_parts
from services.storage.service.files import FileOperations
from services.storage.service.quotas import QuotaScopes
from services.storage.service.transfer_ports import DownloadSource, FolderTransfers

CHUNK_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadTarget:
    vfolder_id: str
    path: str
    size: int
    offset: int
    overwrite: bool


@dataclass(frozen=True, slots=True)
class UploadResult:
    offset: int
    complete: bool


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: int  # Unix seconds


class Transfers:
    def __init__(
        self,
        *,
        files: FileOperations,
        transfers: FolderTransfers,
        key: bytes,
        token_ttl: float,
        quotas: QuotaScopes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._files = files
        self._quotas = quotas
        self._transfers = transfers
        self._key = key
        self._ttl = token_ttl
        self._clock = clock

    async def upload_offset(self, caller: Caller, vfolder_id: str, path: str, size: int) -> int:
        parts = path_parts(path, "path")
        root = await self._files.folder_root(caller, vfolder_id, write=True)
        return await self._transfers.upload_offset(root, parts, size)

    async def upload(
        self, caller: Caller, target: UploadTarget, chunks: AsyncIterable[bytes]
    ) -> UploadResult:
        """Store `chunks` from `target.offset`; the file is put in place once it is complete."""
        parts = path_parts(target.path, "path")
        _non_negative(size=target.size, offset=target.offset)
        if target.offset > target.size:
            raise InvalidArgument(
                "offset lies beyond the upload's size",
                violations=[FieldViolation("offset", f"must be at most size ({target.size})")],
            )
        folder, root = await self._files.folder_and_root(caller, target.vfolder_id, write=True)
        if self._quotas is not None:
            await self._quotas.ensure_room(folder, target.size - target.offset)
        sink = await self._transfers.open_upload(
            root, parts, size=target.size, offset=target.offset
        )
        try:
            async for chunk in chunks:
                if chunk:
                    await sink.write(chunk)
            complete = sink.offset == target.size
            if complete:
                await sink.finish(overwrite=target.overwrite)
            return UploadResult(sink.offset, complete)
        finally:
            await sink.close()

    async def download(
        self, caller: Caller, vfolder_id: str, path: str, *, offset: int, length: int
    ) -> tuple[int, AsyncIterator[bytes]]:
        """The file's size and its bytes from `offset`, at most `length` of them (0: to the end).

        The file is opened (and every check done) before this returns; the iterator closes it.
        """
        _non_negative(offset=offset, length=length)
        reader = await self.open_reader(caller, vfolder_id, path)

        async def pieces() -> AsyncIterator[bytes]:
            try:
                async for data in reader.pieces(offset, length):
                    yield data
            finally:
                await reader.close()

        return reader.size, pieces()

    async def archive(self, caller: Caller, vfolder_id: str, path: str) -> AsyncIterator[bytes]:
        """The directory `path` of the folder as a zip, made while it is read."""
        parts = path_parts(path, "path")
        root = await self._files.folder_root(caller, vfolder_id, write=False)
        return self._transfers.archive(root, parts)

    async def open_reader(self, caller: Caller, vfolder_id: str, path: str) -> FileReader:
        """The file, opened after every check, for reading any range of it; close it after."""
        parts = path_parts(path, "path")
        root = await self._files.folder_root(caller, vfolder_id, write=False)
        return FileReader(await self._transfers.open_download(root, parts))

    async def upload_token(
        self, caller: Caller, vfolder_id: str, path: str, size: int
    ) -> IssuedToken:
        path_parts(path, "path")
        _non_negative(size=size)
        await self._files.folder_root(caller, vfolder_id, write=True)
        return self._issue(tt.TransferKind.UPLOAD, caller, vfolder_id, path, size)

    async def download_token(self, caller: Caller, vfolder_id: str, path: str) -> IssuedToken:
        path_parts(path, "path")
        await self._files.folder_root(caller, vfolder_id, write=False)
        return self._issue(tt.TransferKind.DOWNLOAD, caller, vfolder_id, path, 0)

    def verify(self, token: str, kind: tt.TransferKind) -> tt.TransferGrant:
        """What a token presented to an HTTP transfer endpoint allows (or why it is refused)."""
        return tt.verify(token, self._key, kind=kind, now=self._clock())

    def _issue(
        self, kind: tt.TransferKind, caller: Caller, vfolder_id: str, path: str, size: int
    ) -> IssuedToken:
        expires_at = int(self._clock() + self._ttl)
        grant = tt.TransferGrant(
            kind=kind,
            vfolder_id=vfolder_id.lower(),
            path=path,
            user_id=caller.user_id,
            expires_at=expires_at,
            size=size,
            role=caller.role.value,
            domain_name=caller.domain_name,
            project_ids=caller.project_ids,
        )
        return IssuedToken(tt.sign(grant, self._key), expires_at)


class FileReader:
    """An open file read in CHUNK_BYTES pieces, one piece read ahead while the previous one is on
    its way to the client."""

    def __init__(self, source: DownloadSource) -> None:
        self._source = source

    @property
    def size(self) -> int:
        return self._source.size

    async def pieces(self, offset: int, length: int) -> AsyncIterator[bytes]:
        """The bytes from `offset`, at most `length` of them (0: to the end)."""
        end = self.size if length == 0 else min(self.size, offset + length)

        def read_from(position: int) -> asyncio.Future[bytes]:
            return asyncio.ensure_future(
                self._source.read(position, min(CHUNK_BYTES, end - position))
            )

        ahead = read_from(offset) if offset < end else None
        try:
            position = offset
            while ahead is not None:
                data = await ahead
                ahead = None
                if not data:  # truncated while we read
                    return
                position += len(data)
                if position < end:
                    ahead = read_from(position)
                yield data
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await ahead

    async def close(self) -> None:
        await self._source.close()


def _non_negative(**values: int) -> None:
    bad = [FieldViolation(k, "must not be negative") for k, v in values.items() if v < 0]
    if bad:
        raise InvalidArgument("invalid transfer range", violations=bad)
