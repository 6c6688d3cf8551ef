"""SessionAdminService (internal): sessions ended on behalf of other services."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import session_admin_service_pb2 as pb
from shipyard.registry.v1 import session_admin_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import require_system
from services.registry.service.terminate_owners import TerminateSessionsOfOwners


class SessionAdminServicer(pb_grpc.SessionAdminServiceServicer):
    def __init__(self, terminate: TerminateSessionsOfOwners) -> None:
        self._terminate = terminate

    @override
    async def TerminateSessionsOfOwners(
        self, request: pb.TerminateSessionsOfOwnersRequest, context: grpc.aio.ServicerContext
    ) -> pb.TerminateSessionsOfOwnersResponse:
        require_system()
        ended = await self._terminate(
            user_ids=list(request.user_ids),
            access_keys=list(request.access_keys),
            project_ids=list(request.project_ids),
            domain_names=list(request.domain_names),
            reason=request.reason,
        )
        return pb.TerminateSessionsOfOwnersResponse(session_ids=ended)
