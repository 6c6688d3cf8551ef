"""The registry's SchedulingService: the cluster watch and BindSessions, with tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import grpc
from opentelemetry import propagate, trace
from shipyard.registry.v1 import scheduling_service_pb2 as pb
from shipyard.registry.v1 import scheduling_service_pb2_grpc as pb_grpc

from libs.grpcutil.status import error_from_rpc
from libs.telemetry.tracing import attach_trace_context, detach
from services.scheduler.adapters import registry_convert as convert
from services.scheduler.domain.model import BindResult, ClusterChange, Placement, Unschedulable

SPAN_NAME = "schedule session"


class GrpcSchedulingClient:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        scheduler_id: str,
        bind_timeout: float = 10.0,
        tracer: trace.Tracer | None = None,
        lease_epoch: Callable[[], int] = lambda: 0,
    ) -> None:
        self._stub = pb_grpc.SchedulingServiceStub(channel)
        self._lease_epoch = lease_epoch
        self._scheduler_id = scheduler_id
        self._bind_timeout = bind_timeout
        self._tracer = tracer or trace.get_tracer(__name__)

    async def watch(self) -> AsyncIterator[ClusterChange]:
        call = self._stub.WatchClusterState(
            pb.WatchClusterStateRequest(scheduler_id=self._scheduler_id)
        )
        try:
            async for msg in call:
                batch = msg.batch if msg.WhichOneof("change") == "batch" else None
                for one in batch.changes if batch is not None else (msg,):
                    change = convert.change_from_pb(one)
                    if change is not None:
                        yield change
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        finally:
            call.cancel()

    async def bind(
        self, placements: Sequence[Placement], unschedulable: Sequence[Unschedulable]
    ) -> list[BindResult]:
        request = convert.bind_request_to_pb(self._scheduler_id, placements, unschedulable)
        request.lease_epoch = self._lease_epoch()
        if not placements:
            return await self._call(request)
        # The first session's creating request is the parent; the others are linked, so every
        # session's trace leads here and, through the instrumented call, back to the registry.
        token = attach_trace_context(placements[0].trace_context)
        try:
            with self._tracer.start_as_current_span(
                SPAN_NAME,
                kind=trace.SpanKind.INTERNAL,
                links=_links(placements[1:]),
                attributes={
                    "shipyard.session_ids": [p.session_id for p in placements],
                    "shipyard.scheduler_id": self._scheduler_id,
                },
            ):
                return await self._call(request)
        finally:
            detach(token)

    async def preempt(self, preemptions: Sequence[tuple[str, str]]) -> list[str]:
        """End (victim, for) victims with reason "preempted"; the ids the registry ended."""
        request = pb.PreemptSessionsRequest(
            scheduler_id=self._scheduler_id,
            preemptions=[pb.Preemption(session_id=v, preempted_by=b) for v, b in preemptions],
        )
        try:
            response = await self._stub.PreemptSessions(request, timeout=self._bind_timeout)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return list(response.preempted_session_ids)

    async def cancel_pending(self, cancellations: Sequence[Unschedulable]) -> list[str]:
        """Cancel sessions still PENDING; returns the ids the registry cancelled now."""
        request = pb.CancelPendingSessionsRequest(
            scheduler_id=self._scheduler_id,
            cancellations=[
                pb.PendingCancellation(session_id=c.session_id, reason=c.reason, message=c.message)
                for c in cancellations
            ],
        )
        try:
            response = await self._stub.CancelPendingSessions(request, timeout=self._bind_timeout)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return list(response.cancelled_session_ids)

    async def _call(self, request: pb.BindSessionsRequest) -> list[BindResult]:
        try:
            response = await self._stub.BindSessions(request, timeout=self._bind_timeout)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from exc
        return convert.bind_results_from_pb(response)


def _links(placements: Sequence[Placement]) -> list[trace.Link]:
    links: list[trace.Link] = []
    for placement in placements:
        ctx = trace.get_current_span(propagate.extract(dict(placement.trace_context)))
        span_context = ctx.get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    return links
