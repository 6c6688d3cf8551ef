"""shipyard.registry.v1.SessionService."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.registry.v1 import session_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.api import convert
from services.registry.domain.model import ExecMode, ExecPoll
from services.registry.service.create_session import CreateSession
from services.registry.service.destroy_session import DestroySession
from services.registry.service.execute import Execute
from services.registry.service.queries import SessionQueries
from services.registry.service.session_logs import GetSessionLogs
from services.registry.service.session_requests import CreateSessionCommand

_MODES = {
    execution_pb2.EXECUTION_MODE_QUERY: ExecMode.QUERY,
    execution_pb2.EXECUTION_MODE_BATCH: ExecMode.BATCH,
    execution_pb2.EXECUTION_MODE_CONTINUE: ExecMode.CONTINUE,
    execution_pb2.EXECUTION_MODE_INPUT: ExecMode.INPUT,
}


class SessionServicer(pb_grpc.SessionServiceServicer):
    def __init__(
        self,
        create: CreateSession,
        queries: SessionQueries,
        destroy: DestroySession,
        execute: Execute,
        logs: GetSessionLogs,
    ) -> None:
        self._create = create
        self._queries = queries
        self._destroy = destroy
        self._execute = execute
        self._logs = logs

    @override
    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSessionResponse:
        cmd = CreateSessionCommand(
            name=request.name,
            session_type=convert.TYPE_FROM_PB[request.session_type]
            if request.session_type
            else None,
            image=request.image,
            resources=dict(request.resources),
            vfolder_names=list(request.vfolder_names),
            startup_command=request.startup_command,
            resource_group=request.resource_group,
            client_token=request.client_token,
            project_id=request.project_id,
            environ=dict(request.environ),
            wait=request.wait,
            wait_timeout=request.wait_timeout.ToTimedelta().total_seconds()
            if request.HasField("wait_timeout")
            else None,
            cluster_size=request.cluster_size,
            cluster_mode=convert.CLUSTER_MODE_FROM_PB[request.cluster_mode]
            if request.cluster_mode
            else None,
            scheduling=convert.scheduling_from_pb(request),
            requeue_on_agent_loss=request.requeue_on_agent_loss,
            preopen_ports=tuple(request.preopen_ports),
            template_id=request.template_id,
            mounts=list(request.mounts),
        )
        session = await self._create(current_caller(), cmd)
        return pb.CreateSessionResponse(session=convert.session_pb(session))

    @override
    async def GetSession(
        self, request: pb.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionResponse:
        session = await self._queries.get(current_caller(), request.session_id)
        reports, live = await self._queries.live([session])
        return pb.GetSessionResponse(
            session=convert.session_pb(session, reports.get(session.session_id), live)
        )

    @override
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        sessions, cursor = await self._queries.list(
            current_caller(),
            page_size=request.page_size,
            statuses=[convert.STATUS_FROM_PB[s] for s in request.statuses if s],
            before=convert.decode_page_token(request.page_token),
        )
        reports, live = await self._queries.live(sessions)
        return pb.ListSessionsResponse(
            sessions=[convert.session_pb(s, reports.get(s.session_id), live) for s in sessions],
            next_page_token=convert.encode_page_token(cursor),
        )

    @override
    async def DestroySession(
        self, request: pb.DestroySessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DestroySessionResponse:
        session = await self._destroy(current_caller(), request.session_id, forced=request.forced)
        return pb.DestroySessionResponse(session=convert.session_pb(session))

    @override
    async def Execute(
        self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExecuteResponse:
        timeout = (
            request.timeout.ToTimedelta().total_seconds() if request.HasField("timeout") else None
        )
        poll = None
        if request.HasField("flush_timeout") or request.run_id:
            flush = request.flush_timeout.ToTimedelta().total_seconds()
            poll = ExecPoll(flush_timeout=flush, run_id=request.run_id)
        outcome = await self._execute(
            current_caller(), request.session_id, _MODES[request.mode], request.code, timeout, poll
        )
        return pb.ExecuteResponse(result=convert.exec_result_pb(outcome))

    @override
    async def GetSessionLogs(
        self, request: pb.GetSessionLogsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionLogsResponse:
        logs = await self._logs(current_caller(), request.session_id, request.tail_lines)
        return pb.GetSessionLogsResponse(logs=logs)
