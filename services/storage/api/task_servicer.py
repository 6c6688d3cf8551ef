"""shipyard.storage.v1.VFolderTaskService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from shipyard.storage.v1 import vfolder_task_service_pb2 as pb
from shipyard.storage.v1 import vfolder_task_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.storage.api.convert import task_to_pb
from services.storage.service.watch_task import WatchVFolderTask


class VFolderTaskServicer(pb_grpc.VFolderTaskServiceServicer):
    def __init__(self, watch: WatchVFolderTask) -> None:
        self._watch = watch

    @override
    async def WatchVFolderTask(
        self, request: pb.WatchVFolderTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchVFolderTaskResponse]:
        events = self._watch(current_caller(), request.task_id, request.last_event_id)
        async for event_id, name, task in events:
            yield pb.WatchVFolderTaskResponse(event_id=event_id, name=name, task=task_to_pb(task))
