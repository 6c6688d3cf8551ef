"""shipyard.registry.v1.MountUsageService (internal)."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import mount_usage_service_pb2 as pb
from shipyard.registry.v1 import mount_usage_service_pb2_grpc as pb_grpc
from typing_extensions import override

from services.registry.service.mounted_folders import MountedFolders


class MountUsageServicer(pb_grpc.MountUsageServiceServicer):
    def __init__(self, mounted: MountedFolders) -> None:
        self._mounted = mounted

    @override
    async def ListMountedVFolders(
        self, request: pb.ListMountedVFoldersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMountedVFoldersResponse:
        found = await self._mounted(list(request.vfolder_ids))
        return pb.ListMountedVFoldersResponse(vfolder_ids=found)
