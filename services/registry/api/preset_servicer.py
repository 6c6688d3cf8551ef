"""shipyard.registry.v1.ResourcePresetService."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import grpc
from shipyard.registry.v1 import resource_preset_service_pb2 as pb
from shipyard.registry.v1 import resource_preset_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import resources_pb2
from typing_extensions import override

from libs.core.slots import ResourceSlots
from libs.grpcutil.context import current_caller
from services.registry.api import convert
from services.registry.domain.presets import Budget, ResourcePreset
from services.registry.service.presets import ResourcePresets

FIELD = "resource_preset.resource_slots"


def _amounts(values: Mapping[str, Decimal]) -> resources_pb2.ResourceSlots:
    # Zero stays visible here: a remaining 0 is not the same as unlimited (missing).
    return resources_pb2.ResourceSlots(
        amounts={k: format(v.normalize(), "f") for k, v in sorted(values.items())}
    )


def preset_pb(preset: ResourcePreset) -> pb.ResourcePreset:
    message = pb.ResourcePreset(
        name=preset.name,
        resource_slots=_amounts(preset.slots),
        resource_group=preset.resource_group,
    )
    if preset.created_at is not None:
        message.create_time.CopyFrom(convert.timestamp(preset.created_at))
    return message


def preset_from_pb(message: pb.ResourcePreset) -> ResourcePreset:
    return ResourcePreset(
        name=message.name,
        slots=ResourceSlots.parse(dict(message.resource_slots.amounts), field=FIELD),
        resource_group=message.resource_group,
    )


def _budget_pb(budget: Budget) -> pb.SlotBudget:
    return pb.SlotBudget(
        limits=_amounts(budget.limits),
        using=_amounts(budget.using),
        remaining=_amounts(budget.remaining),
    )


class ResourcePresetServicer(pb_grpc.ResourcePresetServiceServicer):
    def __init__(self, presets: ResourcePresets) -> None:
        self._presets = presets

    @override
    async def CreateResourcePreset(
        self, request: pb.CreateResourcePresetRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateResourcePresetResponse:
        preset = await self._presets.create(preset_from_pb(request.resource_preset))
        return pb.CreateResourcePresetResponse(resource_preset=preset_pb(preset))

    @override
    async def ListResourcePresets(
        self, request: pb.ListResourcePresetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListResourcePresetsResponse:
        presets = await self._presets.list(request.resource_group)
        return pb.ListResourcePresetsResponse(resource_presets=[preset_pb(p) for p in presets])

    @override
    async def UpdateResourcePreset(
        self, request: pb.UpdateResourcePresetRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateResourcePresetResponse:
        preset = await self._presets.update(preset_from_pb(request.resource_preset))
        return pb.UpdateResourcePresetResponse(resource_preset=preset_pb(preset))

    @override
    async def DeleteResourcePreset(
        self, request: pb.DeleteResourcePresetRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteResourcePresetResponse:
        await self._presets.delete(request.name)
        return pb.DeleteResourcePresetResponse()

    @override
    async def CheckResourcePresets(
        self, request: pb.CheckResourcePresetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckResourcePresetsResponse:
        check = await self._presets.check(
            current_caller(), project_id=request.project_id, resource_group=request.resource_group
        )
        return pb.CheckResourcePresetsResponse(
            keypair=_budget_pb(check.keypair),
            project=_budget_pb(check.project),
            domain=_budget_pb(check.domain),
            remaining=_amounts(check.remaining),
            resource_groups=[
                pb.ResourceGroupCapacity(
                    name=g.name, using=_amounts(g.using), remaining=_amounts(g.remaining)
                )
                for g in check.groups
            ],
            presets=[
                pb.PresetFit(resource_preset=preset_pb(p), allocatable=fits)
                for p, fits in check.presets
            ],
        )
