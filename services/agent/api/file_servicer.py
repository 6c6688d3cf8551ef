"""shipyard.agent.v1.KernelFileService: files beneath this agent's kernels' work directories."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.agent.v1 import kernel_file_service_pb2 as pb
from shipyard.agent.v1 import kernel_file_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import kernel_file_pb2
from typing_extensions import override

from libs.grpcutil.context import require_system
from services.agent.domain.files import FileEntry, FileKind
from services.agent.service.kernel_files import KernelFileAccess

FILE_SERVICE_NAME = "shipyard.agent.v1.KernelFileService"
_KINDS = {
    FileKind.FILE: kernel_file_pb2.KERNEL_FILE_KIND_FILE,
    FileKind.DIRECTORY: kernel_file_pb2.KERNEL_FILE_KIND_DIRECTORY,
    FileKind.SYMLINK: kernel_file_pb2.KERNEL_FILE_KIND_SYMLINK,
    FileKind.OTHER: kernel_file_pb2.KERNEL_FILE_KIND_OTHER,
}


def _stamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _entry(entry: FileEntry) -> kernel_file_pb2.KernelFile:
    return kernel_file_pb2.KernelFile(
        name=entry.name, kind=_KINDS[entry.kind], size=entry.size, modify_time=_stamp(entry.mtime)
    )


class KernelFileServicer(pb_grpc.KernelFileServiceServicer):
    def __init__(self, files: KernelFileAccess) -> None:
        self._files = files

    @override
    async def ListKernelFiles(
        self, request: pb.ListKernelFilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListKernelFilesResponse:
        require_system()
        page = await self._files.list(
            request.kernel_id, request.path, request.offset, request.limit
        )
        return pb.ListKernelFilesResponse(files=[_entry(e) for e in page.entries], total=page.total)

    @override
    async def ReadKernelFile(
        self, request: pb.ReadKernelFileRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReadKernelFileResponse:
        require_system()
        piece = await self._files.read(
            request.kernel_id, request.path, request.offset, request.length
        )
        return pb.ReadKernelFileResponse(
            data=piece.data, size=piece.size, modify_time=_stamp(piece.mtime)
        )

    @override
    async def WriteKernelFile(
        self, request: pb.WriteKernelFileRequest, context: grpc.aio.ServicerContext
    ) -> pb.WriteKernelFileResponse:
        require_system()
        size = await self._files.write(
            request.kernel_id, request.path, request.offset, request.data, truncate=request.truncate
        )
        return pb.WriteKernelFileResponse(size=size)
