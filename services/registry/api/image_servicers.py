"""ImageService, ContainerRegistryService and ResourceGroupService (public).

Who may call what is decided by libs/core/access.py before a method runs; the servicers decode,
call the use case and encode.
"""

from __future__ import annotations

from typing import Any

from shipyard.registry.v1 import container_registry_service_pb2 as cr_pb
from shipyard.registry.v1 import container_registry_service_pb2_grpc as cr_grpc
from shipyard.registry.v1 import image_service_pb2 as img_pb
from shipyard.registry.v1 import image_service_pb2_grpc as img_grpc
from shipyard.registry.v1 import resource_group_service_pb2 as rg_pb
from shipyard.registry.v1 import resource_group_service_pb2_grpc as rg_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.api.image_convert import (
    decode_key,
    encode_key,
    group_pb,
    image_pb,
    registry_input,
    registry_pb,
    scheduling_from_pb,
    task_pb,
)
from services.registry.service.container_registries import ContainerRegistries
from services.registry.service.images import Images
from services.registry.service.rescan import Rescans
from services.registry.service.resource_groups import ResourceGroups


class ImageServicer(img_grpc.ImageServiceServicer):
    def __init__(self, images: Images) -> None:
        self._images = images

    @override
    async def ListImages(
        self, request: img_pb.ListImagesRequest, context: Any
    ) -> img_pb.ListImagesResponse:
        key = decode_key(request.page_token, 2)
        page = await self._images.list(
            page_size=request.page_size,
            after=(key[0], key[1]) if key else None,
            registry=request.container_registry,
            architecture=request.architecture,
        )
        return img_pb.ListImagesResponse(
            images=[image_pb(i) for i in page.items], next_page_token=encode_key(page.next_key)
        )

    @override
    async def GetImage(
        self, request: img_pb.GetImageRequest, context: Any
    ) -> img_pb.GetImageResponse:
        return img_pb.GetImageResponse(image=image_pb(await self._images.get(request.image_id)))

    @override
    async def DeleteImage(
        self, request: img_pb.DeleteImageRequest, context: Any
    ) -> img_pb.DeleteImageResponse:
        await self._images.forget(request.image_id)
        return img_pb.DeleteImageResponse()

    @override
    async def CreateImageAlias(
        self, request: img_pb.CreateImageAliasRequest, context: Any
    ) -> img_pb.CreateImageAliasResponse:
        alias, target = await self._images.create_alias(
            request.image_alias.alias, request.image_alias.target
        )
        return img_pb.CreateImageAliasResponse(
            image_alias=img_pb.ImageAlias(alias=alias, target=target)
        )

    @override
    async def ListImageAliases(
        self, request: img_pb.ListImageAliasesRequest, context: Any
    ) -> img_pb.ListImageAliasesResponse:
        key = decode_key(request.page_token, 1)
        page = await self._images.list_aliases(
            page_size=request.page_size, after=key[0] if key else ""
        )
        return img_pb.ListImageAliasesResponse(
            image_aliases=[img_pb.ImageAlias(alias=a, target=t) for a, t in page.items],
            next_page_token=encode_key(page.next_key),
        )

    @override
    async def DeleteImageAlias(
        self, request: img_pb.DeleteImageAliasRequest, context: Any
    ) -> img_pb.DeleteImageAliasResponse:
        await self._images.delete_alias(request.alias)
        return img_pb.DeleteImageAliasResponse()


class ContainerRegistryServicer(cr_grpc.ContainerRegistryServiceServicer):
    def __init__(self, registries: ContainerRegistries, rescans: Rescans) -> None:
        self._registries = registries
        self._rescans = rescans

    @override
    async def CreateContainerRegistry(
        self, request: cr_pb.CreateContainerRegistryRequest, context: Any
    ) -> cr_pb.CreateContainerRegistryResponse:
        msg = request.container_registry
        registry = await self._registries.create(msg.name, registry_input(msg))
        return cr_pb.CreateContainerRegistryResponse(container_registry=registry_pb(registry))

    @override
    async def GetContainerRegistry(
        self, request: cr_pb.GetContainerRegistryRequest, context: Any
    ) -> cr_pb.GetContainerRegistryResponse:
        registry = await self._registries.get(request.name)
        return cr_pb.GetContainerRegistryResponse(container_registry=registry_pb(registry))

    @override
    async def ListContainerRegistries(
        self, request: cr_pb.ListContainerRegistriesRequest, context: Any
    ) -> cr_pb.ListContainerRegistriesResponse:
        key = decode_key(request.page_token, 1)
        page = await self._registries.list(page_size=request.page_size, after=key[0] if key else "")
        return cr_pb.ListContainerRegistriesResponse(
            container_registries=[registry_pb(r) for r in page.items],
            next_page_token=encode_key(page.next_key),
        )

    @override
    async def UpdateContainerRegistry(
        self, request: cr_pb.UpdateContainerRegistryRequest, context: Any
    ) -> cr_pb.UpdateContainerRegistryResponse:
        mask = set(request.update_mask.paths)
        msg = request.container_registry
        registry = await self._registries.update(msg.name, mask, registry_input(msg, mask))
        return cr_pb.UpdateContainerRegistryResponse(container_registry=registry_pb(registry))

    @override
    async def DeleteContainerRegistry(
        self, request: cr_pb.DeleteContainerRegistryRequest, context: Any
    ) -> cr_pb.DeleteContainerRegistryResponse:
        await self._registries.delete(request.name)
        return cr_pb.DeleteContainerRegistryResponse()

    @override
    async def RescanContainerRegistry(
        self, request: cr_pb.RescanContainerRegistryRequest, context: Any
    ) -> cr_pb.RescanContainerRegistryResponse:
        task = await self._rescans.start(request.name)
        return cr_pb.RescanContainerRegistryResponse(task=task_pb(task))

    @override
    async def GetRescanTask(
        self, request: cr_pb.GetRescanTaskRequest, context: Any
    ) -> cr_pb.GetRescanTaskResponse:
        return cr_pb.GetRescanTaskResponse(task=task_pb(await self._rescans.get(request.task_id)))


class ResourceGroupServicer(rg_grpc.ResourceGroupServiceServicer):
    def __init__(self, groups: ResourceGroups) -> None:
        self._groups = groups

    @override
    async def CreateResourceGroup(
        self, request: rg_pb.CreateResourceGroupRequest, context: Any
    ) -> rg_pb.CreateResourceGroupResponse:
        msg = request.resource_group
        group = await self._groups.create(
            msg.name, msg.description, msg.is_active, scheduling_from_pb(msg)
        )
        return rg_pb.CreateResourceGroupResponse(resource_group=group_pb(group))

    @override
    async def GetResourceGroup(
        self, request: rg_pb.GetResourceGroupRequest, context: Any
    ) -> rg_pb.GetResourceGroupResponse:
        group = await self._groups.get(current_caller(), request.name)
        return rg_pb.GetResourceGroupResponse(resource_group=group_pb(group))

    @override
    async def ListResourceGroups(
        self, request: rg_pb.ListResourceGroupsRequest, context: Any
    ) -> rg_pb.ListResourceGroupsResponse:
        key = decode_key(request.page_token, 1)
        page = await self._groups.list(
            current_caller(), page_size=request.page_size, after=key[0] if key else ""
        )
        return rg_pb.ListResourceGroupsResponse(
            resource_groups=[group_pb(g) for g in page.items],
            next_page_token=encode_key(page.next_key),
        )

    @override
    async def UpdateResourceGroup(
        self, request: rg_pb.UpdateResourceGroupRequest, context: Any
    ) -> rg_pb.UpdateResourceGroupResponse:
        msg = request.resource_group
        # Unknown paths are passed on so that the use case names them in its refusal.
        fields = {p: getattr(msg, p, None) for p in request.update_mask.paths}
        group = await self._groups.update(msg.name, fields, scheduling_from_pb(msg))
        return rg_pb.UpdateResourceGroupResponse(resource_group=group_pb(group))

    @override
    async def DeleteResourceGroup(
        self, request: rg_pb.DeleteResourceGroupRequest, context: Any
    ) -> rg_pb.DeleteResourceGroupResponse:
        await self._groups.delete(request.name)
        return rg_pb.DeleteResourceGroupResponse()
