"""Domain → shipyard.scheduler.v1 messages."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.scheduler.v1 import scheduler_service_pb2 as pb
from shipyard.type.v1 import resources_pb2

from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import QueuedSession
from services.scheduler.service.list_pending import PendingQueue


def queue_to_pb(queue: PendingQueue) -> pb.ListPendingSessionsResponse:
    return pb.ListPendingSessionsResponse(
        sessions=[queued_to_pb(q) for q in queue.sessions], leader=queue.leader
    )


def queued_to_pb(queued: QueuedSession) -> pb.QueuedSession:
    session = queued.session
    create_time = Timestamp()
    create_time.FromDatetime(session.create_time)
    return pb.QueuedSession(
        session_id=session.session_id,
        access_key=session.access_key,
        resource_group=session.resource_group,
        create_time=create_time,
        requested_slots=slots_to_pb(session.requested),
        pending_reason=queued.pending_reason,
        pending_message=queued.pending_message,
        attempts=queued.attempts,
        queue_position=queued.queue_position,
        queue_length=queued.queue_length,
    )


def slots_to_pb(slots: ResourceSlots) -> resources_pb2.ResourceSlots:
    return resources_pb2.ResourceSlots(amounts=slots.to_strings())
