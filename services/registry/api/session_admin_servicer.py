"""shipyard.registry.v1.SessionAdminService (internal)."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import session_admin_service_pb2 as pb
from shipyard.registry.v1 import session_admin_service_pb2_grpc as pb_grpc
from typing_extensions import override

from services.registry.service.terminate_owners import Owners, TerminateSessionsOfOwners


class SessionAdminServicer(pb_grpc.SessionAdminServiceServicer):
    def __init__(self, terminate: TerminateSessionsOfOwners) -> None:
        self._terminate = terminate

    @override
    async def TerminateSessionsOfOwners(
        self, request: pb.TerminateSessionsOfOwnersRequest, context: grpc.aio.ServicerContext
    ) -> pb.TerminateSessionsOfOwnersResponse:
        owners = Owners(
            user_ids=tuple(request.user_ids),
            access_keys=tuple(request.access_keys),
            project_ids=tuple(request.project_ids),
            domain_names=tuple(request.domain_names),
        )
        ended = await self._terminate(owners, request.reason)
        return pb.TerminateSessionsOfOwnersResponse(session_ids=ended)
