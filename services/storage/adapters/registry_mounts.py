"""The registry's MountUsageService: which folders sessions that have not ended mount."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from shipyard.registry.v1 import mount_usage_service_pb2 as pb
from shipyard.registry.v1 import mount_usage_service_pb2_grpc as pb_grpc

from libs.core.config import MtlsFiles
from libs.core.errors import Unavailable
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc

DEADLINE = 5.0
BATCH = 1000  # the request's max_items


class GrpcMountedFolders:
    def __init__(
        self, registry_addr: str, internal_token: str, mtls: MtlsFiles | None = None
    ) -> None:
        self._channel = internal_channel(registry_addr, internal_token, mtls)
        self._stub = pb_grpc.MountUsageServiceStub(self._channel)

    async def mounted(self, vfolder_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(vfolder_ids), BATCH):
            request = pb.ListMountedVFoldersRequest(vfolder_ids=vfolder_ids[start : start + BATCH])
            try:
                answer = await self._stub.ListMountedVFolders(request, timeout=DEADLINE)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise Unavailable("the registry is unavailable; try again") from exc
                raise error_from_rpc(exc) from exc
            found.update(answer.vfolder_ids)
        return found

    async def close(self) -> None:
        await self._channel.close()
