"""Files in kernels' work directories through their agents' KernelFileService."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import grpc
from shipyard.agent.v1 import kernel_file_service_pb2 as pb
from shipyard.agent.v1 import kernel_file_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import kernel_file_pb2

from libs.core.config import MtlsFiles
from libs.grpcutil.client import internal_channel
from services.registry.adapters.channel_pool import ChannelPool
from services.registry.adapters.peer_clients import AGENT_ADDRESS_METADATA, _error, _target
from services.registry.domain.files import KernelFileEntry, KernelFilePage, KernelFilePiece

DEADLINE = 60.0
_KINDS = {
    kernel_file_pb2.KERNEL_FILE_KIND_FILE: "file",
    kernel_file_pb2.KERNEL_FILE_KIND_DIRECTORY: "directory",
    kernel_file_pb2.KERNEL_FILE_KIND_SYMLINK: "symlink",
}


class GrpcAgentFiles:
    def __init__(self, internal_token: str, *, mtls: MtlsFiles | None = None) -> None:
        self._pool = ChannelPool(lambda address: internal_channel(address, internal_token, mtls))

    async def list(
        self, address: str, kernel_id: str, path: str, offset: int, limit: int
    ) -> KernelFilePage:
        request = pb.ListKernelFilesRequest(
            kernel_id=kernel_id, path=path, offset=offset, limit=limit
        )
        response = await self._call(address, "ListKernelFiles", request)
        entries = tuple(
            KernelFileEntry(
                name=f.name,
                kind=_KINDS.get(f.kind, "other"),
                size=f.size,
                modified=f.modify_time.ToDatetime(tzinfo=UTC),
            )
            for f in response.files
        )
        return KernelFilePage(entries, response.total)

    async def read(
        self, address: str, kernel_id: str, path: str, offset: int, length: int
    ) -> KernelFilePiece:
        request = pb.ReadKernelFileRequest(
            kernel_id=kernel_id, path=path, offset=offset, length=length
        )
        response = await self._call(address, "ReadKernelFile", request)
        modified = response.modify_time.ToDatetime(tzinfo=UTC)
        return KernelFilePiece(response.data, response.size, modified)

    async def write(
        self, address: str, kernel_id: str, path: str, offset: int, data: bytes, truncate: bool
    ) -> int:
        request = pb.WriteKernelFileRequest(
            kernel_id=kernel_id, path=path, offset=offset, data=data, truncate=truncate
        )
        response = await self._call(address, "WriteKernelFile", request)
        return int(response.size)

    async def _call(self, address: str, method: str, request: Any) -> Any:
        metadata = ((AGENT_ADDRESS_METADATA, address),)
        try:
            async with self._pool.use(_target(address)) as channel:
                stub = pb_grpc.KernelFileServiceStub(channel)
                return await getattr(stub, method)(request, timeout=DEADLINE, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc

    async def close(self) -> None:
        await self._pool.close()
