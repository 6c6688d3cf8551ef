"""shipyard.registry.v1.UsageService."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.registry.v1 import usage_service_pb2 as pb
from shipyard.registry.v1 import usage_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.api.convert import timestamp
from services.registry.domain.usage import UsageBin, UsageRecord, UsageScope
from services.registry.service.usage import Usage


class UsageServicer(pb_grpc.UsageServiceServicer):
    def __init__(self, usage: Usage) -> None:
        self._usage = usage

    @override
    async def GetUsage(
        self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsageResponse:
        start, end, records = await self._usage.usage(
            current_caller(),
            _scope(request.filter),
            _when(request, "start_time"),
            _when(request, "end_time"),
        )
        return pb.GetUsageResponse(
            start_time=timestamp(start),
            end_time=timestamp(end),
            records=[_record_pb(r) for r in records],
        )

    @override
    async def GetUsageSeries(
        self, request: pb.GetUsageSeriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsageSeriesResponse:
        width, bins = await self._usage.series(
            current_caller(),
            _scope(request.filter),
            _when(request, "start_time"),
            _when(request, "end_time"),
            request.bin_width.ToTimedelta() if request.HasField("bin_width") else None,
        )
        response = pb.GetUsageSeriesResponse(bins=[_bin_pb(b) for b in bins])
        response.bin_width.FromTimedelta(width)
        return response


def _when(request: pb.GetUsageRequest | pb.GetUsageSeriesRequest, name: str) -> datetime | None:
    if not request.HasField(name):
        return None
    stamp: Timestamp = getattr(request, name)
    return stamp.ToDatetime(UTC)


def _scope(f: pb.UsageFilter) -> UsageScope:
    return UsageScope(
        user_id=f.user_id.lower() or None,
        project_id=f.project_id.lower() or None,
        domain_name=f.domain_name or None,
    )


def _record_pb(r: UsageRecord) -> pb.UsageRecord:
    return pb.UsageRecord(
        user_id=r.user_id,
        project_id=r.project_id,
        domain_name=r.domain_name,
        session_count=r.session_count,
        kernel_count=r.kernel_count,
        used_seconds=r.used_seconds,
        slot_seconds=dict(r.slot_seconds),
    )


def _bin_pb(b: UsageBin) -> pb.UsageBin:
    return pb.UsageBin(
        start_time=timestamp(b.start),
        session_count=b.session_count,
        kernel_count=b.kernel_count,
        used_seconds=b.used_seconds,
        allocated=dict(b.allocated),
    )
