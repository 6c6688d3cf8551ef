"""shipyard.registry.v1.SessionControlService."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import session_control_service_pb2 as pb
from shipyard.registry.v1 import session_control_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.api import convert
from services.registry.service.rename_session import RenameSession
from services.registry.service.restart_session import RestartSession


class SessionControlServicer(pb_grpc.SessionControlServiceServicer):
    def __init__(self, rename: RenameSession, restart: RestartSession) -> None:
        self._rename = rename
        self._restart = restart

    @override
    async def RenameSession(
        self, request: pb.RenameSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenameSessionResponse:
        session = await self._rename(current_caller(), request.session_id, request.name)
        return pb.RenameSessionResponse(session=convert.session_pb(session))

    @override
    async def RestartSession(
        self, request: pb.RestartSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestartSessionResponse:
        session = await self._restart(current_caller(), request.session_id)
        return pb.RestartSessionResponse(session=convert.session_pb(session))
