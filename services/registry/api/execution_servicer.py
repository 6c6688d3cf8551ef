"""shipyard.registry.v1.ExecutionService: live execution relayed to the main kernel's agent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Protocol

import grpc
from shipyard.registry.v1 import execution_service_pb2 as pb
from shipyard.registry.v1 import execution_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2
from typing_extensions import override

from libs.core.errors import FieldViolation, InvalidArgument
from libs.grpcutil.context import current_caller
from services.registry.service.execute import ExecTargets

# While output flows, the session counts as used at most this often (seconds).
TOUCH_INTERVAL = 30.0
_USE = (execution_pb2.EXECUTION_ACTION_RUN, execution_pb2.EXECUTION_ACTION_INPUT)


class AgentExecution(Protocol):
    def stream_execute(
        self,
        address: str,
        kernel_id: str,
        commands: AsyncIterator[execution_pb2.ExecutionCommand],
    ) -> AsyncIterator[execution_pb2.ExecutionEvent]: ...

    async def interrupt(self, address: str, kernel_id: str) -> None: ...


class ExecutionServicer(pb_grpc.ExecutionServiceServicer):
    def __init__(self, targets: ExecTargets, agents: AgentExecution) -> None:
        self._targets = targets
        self._agents = agents

    @override
    async def StreamExecute(
        self,
        request_iterator: AsyncIterator[pb.StreamExecuteRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.StreamExecuteResponse]:
        first = await anext(request_iterator, None)
        if first is None:
            return
        if not first.session_id:
            why = "the first message names the session"
            raise InvalidArgument(
                f"session_id: {why}", violations=[FieldViolation("session_id", why)]
            )
        target = await self._targets(current_caller(), first.session_id)
        session_id = target.session_id

        async def commands() -> AsyncIterator[execution_pb2.ExecutionCommand]:
            await self._used(session_id, first)
            yield first.command
            async for request in request_iterator:
                await self._used(session_id, request)
                yield request.command

        touched = time.monotonic()
        events = self._agents.stream_execute(target.address, target.kernel_id, commands())
        async for event in events:
            if time.monotonic() - touched > TOUCH_INTERVAL:
                touched = time.monotonic()
                await self._targets.touch(session_id)
            yield pb.StreamExecuteResponse(event=event)

    async def _used(self, session_id: str, request: pb.StreamExecuteRequest) -> None:
        if request.command.action in _USE:
            await self._targets.touch(session_id)

    @override
    async def InterruptExecution(
        self, request: pb.InterruptExecutionRequest, context: grpc.aio.ServicerContext
    ) -> pb.InterruptExecutionResponse:
        target = await self._targets(current_caller(), request.session_id)
        await self._targets.touch(target.session_id)
        await self._agents.interrupt(target.address, target.kernel_id)
        return pb.InterruptExecutionResponse()
