"""gRPC servicers: decode, call the use case with the caller, encode."""

from __future__ import annotations

from typing import Any

from shipyard.storage.v1 import vfolder_service_pb2 as pb
from shipyard.storage.v1 import vfolder_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller, require_system
from services.storage.api.convert import (
    mount_to_pb,
    permission_from_pb,
    task_to_pb,
    usage_from_pb,
    vfolder_to_pb,
)
from services.storage.service.clone import CloneVFolders
from services.storage.service.create import CreateVFolder
from services.storage.service.delete import DeleteVFolder
from services.storage.service.listing import ListVFolders
from services.storage.service.quotas import QuotaScopes, ScopeUsage
from services.storage.service.resolve_mounts import ResolveMounts
from services.storage.service.update import FolderChanges, UpdateVFolder
from services.storage.service.volume_info import VolumeInfo


class VFolderServicer(pb_grpc.VFolderServiceServicer):
    def __init__(
        self,
        *,
        create: CreateVFolder,
        list_: ListVFolders,
        update: UpdateVFolder,
        delete: DeleteVFolder,
        info: VolumeInfo,
        quotas: QuotaScopes,
        clones: CloneVFolders,
    ) -> None:
        self._create = create
        self._list = list_
        self._update = update
        self._delete = delete
        self._info = info
        self._quotas = quotas
        self._clones = clones

    @override
    async def CloneVFolder(
        self, request: pb.CloneVFolderRequest, context: Any
    ) -> pb.CloneVFolderResponse:
        task = await self._clones.clone(
            current_caller(),
            request.vfolder_id,
            name=request.name,
            volume=request.volume,
            permission=permission_from_pb(request.permission),
            usage_mode=usage_from_pb(request.usage_mode),
        )
        return pb.CloneVFolderResponse(task=task_to_pb(task))

    @override
    async def GetVFolderTask(
        self, request: pb.GetVFolderTaskRequest, context: Any
    ) -> pb.GetVFolderTaskResponse:
        task = await self._clones.get(current_caller(), request.task_id)
        return pb.GetVFolderTaskResponse(task=task_to_pb(task))

    @override
    async def GetQuotaScope(
        self, request: pb.GetQuotaScopeRequest, context: Any
    ) -> pb.GetQuotaScopeResponse:
        got = await self._quotas.get(current_caller(), request.volume, request.scope_id)
        return pb.GetQuotaScopeResponse(quota_scope=_scope_to_pb(got))

    @override
    async def SetQuotaScope(
        self, request: pb.SetQuotaScopeRequest, context: Any
    ) -> pb.SetQuotaScopeResponse:
        got = await self._quotas.set(
            current_caller(), request.volume, request.scope_id, request.limit_bytes
        )
        return pb.SetQuotaScopeResponse(quota_scope=_scope_to_pb(got))

    @override
    async def ListVolumes(
        self, request: pb.ListVolumesRequest, context: Any
    ) -> pb.ListVolumesResponse:
        volumes = await self._info.list_volumes()
        return pb.ListVolumesResponse(
            volumes=[
                pb.Volume(
                    name=v.name,
                    backend=v.backend,
                    capabilities=list(v.capabilities),
                    capacity_bytes=v.capacity_bytes,
                    used_bytes=v.used_bytes,
                    is_default=v.is_default,
                )
                for v in volumes
            ]
        )

    @override
    async def GetVFolderUsage(
        self, request: pb.GetVFolderUsageRequest, context: Any
    ) -> pb.GetVFolderUsageResponse:
        usage = await self._info.folder_usage(current_caller(), request.vfolder_id)
        return pb.GetVFolderUsageResponse(used_bytes=usage.used_bytes, file_count=usage.file_count)

    @override
    async def CreateVFolder(
        self, request: pb.CreateVFolderRequest, context: Any
    ) -> pb.CreateVFolderResponse:
        folder = await self._create(
            current_caller(),
            name=request.name,
            volume=request.volume,
            project_id=request.project_id,
            permission=permission_from_pb(request.permission),
            usage_mode=usage_from_pb(request.usage_mode),
            cloneable=request.cloneable,
        )
        return pb.CreateVFolderResponse(vfolder=vfolder_to_pb(folder))

    @override
    async def ListVFolders(
        self, request: pb.ListVFoldersRequest, context: Any
    ) -> pb.ListVFoldersResponse:
        page = await self._list(
            current_caller(),
            page_size=request.page_size,
            page_token=request.page_token,
            trashed=request.trashed,
        )
        return pb.ListVFoldersResponse(
            vfolders=[vfolder_to_pb(f) for f in page.vfolders],
            next_page_token=page.next_page_token,
        )

    @override
    async def DeleteVFolder(
        self, request: pb.DeleteVFolderRequest, context: Any
    ) -> pb.DeleteVFolderResponse:
        await self._delete(current_caller(), vfolder_id=request.vfolder_id, purge=request.purge)
        return pb.DeleteVFolderResponse()

    @override
    async def RestoreVFolder(
        self, request: pb.RestoreVFolderRequest, context: Any
    ) -> pb.RestoreVFolderResponse:
        folder = await self._delete.restore(current_caller(), vfolder_id=request.vfolder_id)
        return pb.RestoreVFolderResponse(vfolder=vfolder_to_pb(folder))

    @override
    async def UpdateVFolder(
        self, request: pb.UpdateVFolderRequest, context: Any
    ) -> pb.UpdateVFolderResponse:
        given = request.vfolder
        changes = FolderChanges(
            name=given.name,
            permission=permission_from_pb(given.permission),
            usage_mode=usage_from_pb(given.usage_mode),
            cloneable=given.cloneable,
        )
        folder = await self._update(
            current_caller(), given.vfolder_id, changes, list(request.update_mask.paths)
        )
        return pb.UpdateVFolderResponse(vfolder=vfolder_to_pb(folder))


class MountServicer(pb_grpc.MountServiceServicer):
    def __init__(self, *, resolve: ResolveMounts) -> None:
        self._resolve = resolve

    @override
    async def ResolveMounts(
        self, request: pb.ResolveMountsRequest, context: Any
    ) -> pb.ResolveMountsResponse:
        require_system()
        mounts = await self._resolve(
            user_id=request.user_id,
            names=list(request.names),
            project_id=request.project_id,
            specs=list(request.mount_specs),
        )
        return pb.ResolveMountsResponse(mounts=[mount_to_pb(m) for m in mounts])


def _scope_to_pb(scope: ScopeUsage) -> pb.QuotaScope:
    return pb.QuotaScope(
        volume=scope.volume,
        scope_id=scope.scope_id,
        limit_bytes=scope.limit_bytes,
        used_bytes=scope.used_bytes,
    )
