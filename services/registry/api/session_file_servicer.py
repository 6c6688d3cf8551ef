"""shipyard.registry.v1.SessionFileService: files in a running session's work directory."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import session_file_service_pb2 as pb
from shipyard.registry.v1 import session_file_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import kernel_file_pb2
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.domain.files import KernelFileEntry
from services.registry.service.session_files import SessionFiles

FILE_SERVICE_NAME = "shipyard.registry.v1.SessionFileService"
_KINDS = {
    "file": kernel_file_pb2.KERNEL_FILE_KIND_FILE,
    "directory": kernel_file_pb2.KERNEL_FILE_KIND_DIRECTORY,
    "symlink": kernel_file_pb2.KERNEL_FILE_KIND_SYMLINK,
    "other": kernel_file_pb2.KERNEL_FILE_KIND_OTHER,
}


def _entry(entry: KernelFileEntry) -> kernel_file_pb2.KernelFile:
    out = kernel_file_pb2.KernelFile(name=entry.name, kind=_KINDS[entry.kind], size=entry.size)
    out.modify_time.FromDatetime(entry.modified)
    return out


class SessionFileServicer(pb_grpc.SessionFileServiceServicer):
    def __init__(self, files: SessionFiles) -> None:
        self._files = files

    @override
    async def ListSessionFiles(
        self, request: pb.ListSessionFilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionFilesResponse:
        r = request
        page, token = await self._files.list(
            current_caller(), r.session_id, r.path, r.page_size, r.page_token
        )
        return pb.ListSessionFilesResponse(
            files=[_entry(e) for e in page.entries], next_page_token=token
        )

    @override
    async def DownloadSessionFile(
        self, request: pb.DownloadSessionFileRequest, context: grpc.aio.ServicerContext
    ) -> pb.DownloadSessionFileResponse:
        piece = await self._files.download(
            current_caller(), request.session_id, request.path, request.offset, request.length
        )
        response = pb.DownloadSessionFileResponse(data=piece.data, size=piece.size)
        response.modify_time.FromDatetime(piece.modified)
        return response

    @override
    async def UploadSessionFile(
        self, request: pb.UploadSessionFileRequest, context: grpc.aio.ServicerContext
    ) -> pb.UploadSessionFileResponse:
        size = await self._files.upload(
            current_caller(),
            request.session_id,
            request.path,
            request.offset,
            request.data,
            truncate=request.truncate,
        )
        return pb.UploadSessionFileResponse(size=size)
