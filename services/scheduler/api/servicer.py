"""shipyard.scheduler.v1.SchedulerService."""

from __future__ import annotations

import grpc
from shipyard.scheduler.v1 import scheduler_service_pb2 as pb
from shipyard.scheduler.v1 import scheduler_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.scheduler.api import convert
from services.scheduler.service.list_pending import ListPendingSessions

SERVICE_NAME = "shipyard.scheduler.v1.SchedulerService"


class SchedulerServicer(pb_grpc.SchedulerServiceServicer):
    def __init__(self, list_pending: ListPendingSessions) -> None:
        self._list_pending = list_pending

    @override
    async def ListPendingSessions(
        self, request: pb.ListPendingSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPendingSessionsResponse:
        queue = self._list_pending(current_caller(), resource_group=request.resource_group)
        return convert.queue_to_pb(queue)
