"""SchedulingService (internal): the scheduler's watch and binds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from shipyard.registry.v1 import scheduling_service_pb2 as pb
from shipyard.registry.v1 import scheduling_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import require_system
from services.registry.api import convert
from services.registry.service.ports import PendingNote, SessionPlacement
from services.registry.service.scheduling import Scheduling, WatchItem
from services.registry.service.watch_holders import SlotHolder


class SchedulingServicer(pb_grpc.SchedulingServiceServicer):
    def __init__(self, scheduling: Scheduling) -> None:
        self._scheduling = scheduling

    @override
    async def WatchClusterState(
        self, request: pb.WatchClusterStateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchClusterStateResponse]:
        require_system()
        async for items in self._scheduling.watch():
            if len(items) == 1:
                yield _watch_pb(items[0])
            else:
                yield pb.WatchClusterStateResponse(
                    batch=pb.ClusterChangeBatch(changes=[_watch_pb(i) for i in items])
                )

    @override
    async def BindSessions(
        self, request: pb.BindSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BindSessionsResponse:
        require_system()
        outcomes = await self._scheduling.bind(
            [
                SessionPlacement(
                    session_id=p.session_id,
                    kernels={k.kernel_id: k.agent_id for k in p.kernels},
                    max_concurrent_sessions=p.max_concurrent_sessions,
                )
                for p in request.placements
            ],
            [
                PendingNote(session_id=n.session_id, reason=n.reason, message=n.message)
                for n in request.unschedulable
            ],
            lease_epoch=request.lease_epoch,
        )
        return pb.BindSessionsResponse(
            results=[
                pb.BindResult(session_id=o.session_id, bound=o.bound, conflict_reason=o.conflict)
                for o in outcomes
            ]
        )

    @override
    async def PreemptSessions(
        self, request: pb.PreemptSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.PreemptSessionsResponse:
        require_system()
        ended = await self._scheduling.preempt(
            [(p.session_id, p.preempted_by) for p in request.preemptions]
        )
        return pb.PreemptSessionsResponse(preempted_session_ids=ended)

    @override
    async def CancelPendingSessions(
        self, request: pb.CancelPendingSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelPendingSessionsResponse:
        require_system()
        cancelled = await self._scheduling.cancel_pending(
            [
                PendingNote(session_id=c.session_id, reason=c.reason, message=c.message)
                for c in request.cancellations
            ]
        )
        return pb.CancelPendingSessionsResponse(cancelled_session_ids=cancelled)


def _watch_pb(item: WatchItem) -> pb.WatchClusterStateResponse:
    if item.kind == "snapshot":
        return pb.WatchClusterStateResponse(
            snapshot=pb.ClusterSnapshot(
                agents=[convert.agent_state_pb(a) for a in item.agents],
                pending_sessions=[
                    convert.pending_pb(s, item.dependencies.get(s.session_id))
                    for s in item.sessions
                ],
                active_sessions=[convert.active_pb(SlotHolder.of(s)) for s in item.active],
            )
        )
    if item.kind == "agent":
        return pb.WatchClusterStateResponse(agent=convert.agent_state_pb(item.agents[0]))
    if item.kind == "pending":
        session = item.sessions[0]
        return pb.WatchClusterStateResponse(
            session_pending=convert.pending_pb(session, item.dependencies.get(session.session_id))
        )
    if item.kind == "active" and item.holder is not None:
        return pb.WatchClusterStateResponse(session_active=convert.active_pb(item.holder))
    if item.kind == "ended":
        return pb.WatchClusterStateResponse(session_ended=item.session_id)
    return pb.WatchClusterStateResponse(session_removed=item.session_id)
