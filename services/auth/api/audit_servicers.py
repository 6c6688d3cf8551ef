"""`AuditService` (listing) and the internal `AuditRecordService` (other services append)."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from shipyard.auth.v1 import audit_service_pb2 as pb
from shipyard.auth.v1 import audit_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.auth.api.tenancy_convert import from_ts, ts
from services.auth.domain.audit import AuditEvent, AuditFilter, Outcome
from services.auth.domain.paging import page_request
from services.auth.service.audit import AuditLog

Ctx: TypeAlias = grpc.aio.ServicerContext
_OUTCOME_PB = {
    Outcome.SUCCESS: pb.AUDIT_OUTCOME_SUCCESS,
    Outcome.DENIED: pb.AUDIT_OUTCOME_DENIED,
    Outcome.FAILURE: pb.AUDIT_OUTCOME_FAILURE,
}
_OUTCOME_OF: dict[int, Outcome] = {int(v): k for k, v in _OUTCOME_PB.items()}
_TEXT_FIELDS = (
    "actor_user_id",
    "actor_email",
    "actor_access_key",
    "action",
    "target_type",
    "target_id",
    "domain_name",
    "status_code",
    "detail",
    "trace_id",
    "client_address",
)


def event_pb(e: AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        event_id=e.event_id,
        time=ts(e.time),
        outcome=_OUTCOME_PB[e.outcome],
        **{f: getattr(e, f) for f in _TEXT_FIELDS},
    )


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    @override
    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Ctx
    ) -> pb.ListAuditEventsResponse:
        flt = AuditFilter(
            actor_user_id=request.actor_user_id.lower(),
            action=request.action,
            target_type=request.target_type,
            target_id=request.target_id,
            domain_name=request.domain_name,
            outcome=_OUTCOME_OF.get(request.outcome),
            start=from_ts(request.start_time, request.HasField("start_time")),
            end=from_ts(request.end_time, request.HasField("end_time")),
        )
        page = await self._audit.list(
            current_caller(), page_request(request.page_size, request.page_token), flt
        )
        return pb.ListAuditEventsResponse(
            events=[event_pb(e) for e in page.items], next_page_token=page.next_token
        )


class AuditRecordServicer(pb_grpc.AuditRecordServiceServicer):
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    @override
    async def RecordAuditEvent(
        self, request: pb.RecordAuditEventRequest, context: Ctx
    ) -> pb.RecordAuditEventResponse:
        e = request.event
        event = AuditEvent(
            time=from_ts(e.time, e.HasField("time")),
            outcome=_OUTCOME_OF[e.outcome],
            **{f: getattr(e, f) for f in _TEXT_FIELDS},
        )
        return pb.RecordAuditEventResponse(event=event_pb(await self._audit.record(event)))
