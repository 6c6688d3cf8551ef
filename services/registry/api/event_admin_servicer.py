"""shipyard.registry.v1.EventAdminService (public, superadmins only: libs/core/access.py)."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.registry.v1 import event_admin_service_pb2 as pb
from shipyard.registry.v1 import event_admin_service_pb2_grpc as pb_grpc
from typing_extensions import override

from services.registry.service.dead_letters import DeadLetters, NamedDeadLetter


def _dead_letter_pb(item: NamedDeadLetter) -> pb.DeadLetter:
    parked = Timestamp()
    parked.FromMilliseconds(item.letter.parked_ms)
    return pb.DeadLetter(
        dead_letter_id=item.dead_letter_id,
        source=item.source,
        event_id=item.letter.event_id,
        source_entry_id=item.letter.source_entry_id,
        error=item.letter.error,
        failures=item.letter.failures,
        size_bytes=item.letter.size_bytes,
        park_time=parked,
    )


class EventAdminServicer(pb_grpc.EventAdminServiceServicer):
    def __init__(self, dead_letters: DeadLetters) -> None:
        self._dead_letters = dead_letters

    @override
    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeadLettersResponse:
        page = await self._dead_letters.list(request.page_size, request.page_token)
        return pb.ListDeadLettersResponse(
            dead_letters=[_dead_letter_pb(i) for i in page.items],
            next_page_token=page.next_token,
            total=page.total,
        )

    @override
    async def ReplayDeadLetters(
        self, request: pb.ReplayDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplayDeadLettersResponse:
        outcome = await self._dead_letters.replay(
            list(request.dead_letter_ids), replay_all=request.all
        )
        return pb.ReplayDeadLettersResponse(
            replayed=[
                pb.ReplayedDeadLetter(dead_letter_id=d, new_entry_id=n) for d, n in outcome.replayed
            ],
            not_found=outcome.not_found,
        )
