"""shipyard.registry.v1.UserEventService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from shipyard.registry.v1 import user_event_service_pb2 as pb
from shipyard.registry.v1 import user_event_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.service.watch_events import EventFilter, WatchUserEvents, kinds_of


class UserEventServicer(pb_grpc.UserEventServiceServicer):
    def __init__(self, watch: WatchUserEvents) -> None:
        self._watch = watch

    @override
    async def WatchSessionEvents(
        self, request: pb.WatchSessionEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchSessionEventsResponse]:
        events = self._watch.session(current_caller(), request.session_id, request.last_event_id)
        async for event in events:
            yield pb.WatchSessionEventsResponse.FromString(event.payload)

    @override
    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchEventsResponse]:
        flt = EventFilter(
            session_id=request.session_id.lower(),
            project_id=request.project_id,
            kinds=kinds_of(request.scope),
        )
        events = self._watch.all(
            current_caller(), flt, request.last_event_id, follow=not request.no_follow
        )
        async for event in events:
            yield pb.WatchEventsResponse.FromString(event.payload)
