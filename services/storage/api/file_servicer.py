"""FileService: decode, call the file operations with the caller, encode."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.storage.v1 import file_service_pb2 as pb
from shipyard.storage.v1 import file_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.core.errors import FieldViolation, InvalidArgument, ShipyardError
from libs.grpcutil.context import current_caller
from services.storage.domain.file_model import FileEntry, FileKind
from services.storage.service.files import FileOperations
from services.storage.service.transfers import IssuedToken, Transfers, UploadTarget

_KIND_TO_PB = {
    FileKind.FILE: pb.FILE_TYPE_FILE,
    FileKind.DIRECTORY: pb.FILE_TYPE_DIRECTORY,
    FileKind.SYMLINK: pb.FILE_TYPE_SYMLINK,
    FileKind.OTHER: pb.FILE_TYPE_OTHER,
}


def _text(name: str) -> str:
    # File names are bytes; proto strings are UTF-8. Undecodable bytes show as U+FFFD.
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def entry_to_pb(entry: FileEntry) -> pb.FileEntry:
    modified = Timestamp()
    modified.FromDatetime(entry.modified_at)
    return pb.FileEntry(
        name=_text(entry.name),
        type=_KIND_TO_PB[entry.kind],
        size=entry.size,
        mode=entry.mode,
        modify_time=modified,
        symlink_target=_text(entry.symlink_target),
    )


class FileServicer(pb_grpc.FileServiceServicer):
    def __init__(self, files: FileOperations, transfers: Transfers) -> None:
        self._files = files
        self._transfers = transfers

    @override
    async def ListFiles(self, request: pb.ListFilesRequest, context: Any) -> pb.ListFilesResponse:
        page, token = await self._files.list(
            current_caller(),
            request.vfolder_id,
            request.path,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListFilesResponse(
            entries=[entry_to_pb(e) for e in page.entries], next_page_token=token
        )

    @override
    async def MakeDirectory(
        self, request: pb.MakeDirectoryRequest, context: Any
    ) -> pb.MakeDirectoryResponse:
        await self._files.make_dir(
            current_caller(),
            request.vfolder_id,
            request.path,
            parents=request.parents,
            exist_ok=request.exist_ok,
        )
        return pb.MakeDirectoryResponse()

    @override
    async def MoveFile(self, request: pb.MoveFileRequest, context: Any) -> pb.MoveFileResponse:
        await self._files.move(
            current_caller(), request.vfolder_id, request.source_path, request.destination_path
        )
        return pb.MoveFileResponse()

    @override
    async def DeleteFiles(
        self, request: pb.DeleteFilesRequest, context: Any
    ) -> pb.DeleteFilesResponse:
        await self._files.delete(
            current_caller(), request.vfolder_id, list(request.paths), recursive=request.recursive
        )
        return pb.DeleteFilesResponse()

    @override
    async def FetchFile(self, request: pb.FetchFileRequest, context: Any) -> pb.FetchFileResponse:
        content = await self._files.fetch(current_caller(), request.vfolder_id, request.path)
        return pb.FetchFileResponse(content=content)

    @override
    async def Upload(
        self, request_iterator: AsyncIterator[pb.UploadRequest], context: Any
    ) -> pb.UploadResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("body") != "header":
            raise InvalidArgument(
                "an upload starts with its header",
                violations=[FieldViolation("header", "must be the first message")],
            )
        h = first.header
        target = UploadTarget(
            vfolder_id=h.vfolder_id,
            path=h.path,
            size=h.size,
            offset=h.offset,
            overwrite=h.overwrite,
        )
        try:
            result = await self._transfers.upload(
                current_caller(), target, _chunks(request_iterator)
            )
        except ShipyardError:
            await _drain(request_iterator)
            raise
        return pb.UploadResponse(offset=result.offset, complete=result.complete)

    @override
    async def Download(
        self, request: pb.DownloadRequest, context: Any
    ) -> AsyncIterator[pb.DownloadResponse]:
        size, pieces = await self._transfers.download(
            current_caller(),
            request.vfolder_id,
            request.path,
            offset=request.offset,
            length=request.length,
        )
        yield pb.DownloadResponse(size=size)
        async for piece in pieces:
            yield pb.DownloadResponse(size=size, chunk=piece)

    @override
    async def GetUploadOffset(
        self, request: pb.GetUploadOffsetRequest, context: Any
    ) -> pb.GetUploadOffsetResponse:
        offset = await self._transfers.upload_offset(
            current_caller(), request.vfolder_id, request.path, request.size
        )
        return pb.GetUploadOffsetResponse(offset=offset)

    @override
    async def CreateUploadSession(
        self, request: pb.CreateUploadSessionRequest, context: Any
    ) -> pb.CreateUploadSessionResponse:
        issued = await self._transfers.upload_token(
            current_caller(), request.vfolder_id, request.path, request.size
        )
        return pb.CreateUploadSessionResponse(token=issued.token, expire_time=_expiry(issued))

    @override
    async def CreateDownloadToken(
        self, request: pb.CreateDownloadTokenRequest, context: Any
    ) -> pb.CreateDownloadTokenResponse:
        issued = await self._transfers.download_token(
            current_caller(), request.vfolder_id, request.path
        )
        return pb.CreateDownloadTokenResponse(token=issued.token, expire_time=_expiry(issued))


DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10.0


async def _drain(messages: AsyncIterator[pb.UploadRequest]) -> None:
    """Read (and drop) what the client is still sending, within bounds, before refusing.

    A client still writing when the call ends sees a local INTERNAL error instead of our status
    (the gRPC Python client does); letting it finish sending first delivers the real refusal.
    """
    dropped = 0
    with contextlib.suppress(Exception, TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for message in messages:
                dropped += len(message.chunk)
                if dropped > DRAIN_BYTES:
                    return


async def _chunks(messages: AsyncIterator[pb.UploadRequest]) -> AsyncIterator[bytes]:
    async for message in messages:
        if message.WhichOneof("body") != "chunk":
            raise InvalidArgument(
                "only the first message of an upload carries a header",
                violations=[FieldViolation("header", "must be sent once, first")],
            )
        yield message.chunk


def _expiry(issued: IssuedToken) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(issued.expires_at)
    return stamp
