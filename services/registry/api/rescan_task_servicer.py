"""shipyard.registry.v1.RescanTaskService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from shipyard.registry.v1 import rescan_task_service_pb2 as pb
from shipyard.registry.v1 import rescan_task_service_pb2_grpc as pb_grpc
from typing_extensions import override

from services.registry.api.image_convert import task_pb
from services.registry.service.watch_rescan import WatchRescan


class RescanTaskServicer(pb_grpc.RescanTaskServiceServicer):
    def __init__(self, watch: WatchRescan) -> None:
        self._watch = watch

    @override
    async def WatchRescanTask(
        self, request: pb.WatchRescanTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchRescanTaskResponse]:
        async for event_id, name, task in self._watch(request.task_id, request.last_event_id):
            yield pb.WatchRescanTaskResponse(event_id=event_id, name=name, task=task_pb(task))
