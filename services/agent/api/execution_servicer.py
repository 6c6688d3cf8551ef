"""shipyard.agent.v1.KernelExecutionService: live execution on this agent's kernels."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
from shipyard.agent.v1 import execution_service_pb2 as pb
from shipyard.agent.v1 import execution_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.core.errors import FieldViolation, InvalidArgument
from libs.grpcutil.context import require_system
from services.agent.api.execution_convert import event_pb, runner_command
from services.agent.service.live_execute import LiveExecute
from services.agent.service.ports import LiveChannel

SERVICE_NAME = "shipyard.agent.v1.KernelExecutionService"
# Events that answer a command: once the caller stopped sending, the stream ends with the last.
_ANSWERS = ("finished", "completion", "error")


class KernelExecutionServicer(pb_grpc.KernelExecutionServiceServicer):
    def __init__(self, live: LiveExecute) -> None:
        self._live = live

    @override
    async def StreamExecute(
        self,
        request_iterator: AsyncIterator[pb.StreamExecuteRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.StreamExecuteResponse]:
        require_system()
        first = await anext(request_iterator, None)
        if first is None:
            return
        if not first.kernel_id:
            why = "the first message names the kernel"
            raise InvalidArgument(
                f"kernel_id: {why}", violations=[FieldViolation("kernel_id", why)]
            )
        channel = await self._live.open(first.kernel_id)
        pending = _Pending()
        pump = asyncio.create_task(self._pump(first, request_iterator, channel, pending))
        try:
            while (event := await channel.receive()) is not None:
                yield pb.StreamExecuteResponse(event=event_pb(event))
                if event.get("event") in _ANSWERS and pending.answered():
                    return
            # A bad command ended it: the caller gets that command's status.
            await asyncio.wait({pump}, timeout=1.0)
            if pump.done() and not pump.cancelled() and (error := pump.exception()) is not None:
                raise error
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            await channel.close()

    async def _pump(
        self,
        first: pb.StreamExecuteRequest,
        rest: AsyncIterator[pb.StreamExecuteRequest],
        channel: LiveChannel,
        pending: _Pending,
    ) -> None:
        """Forward commands; once the caller is done sending, end when nothing is pending."""
        try:
            await self._forward(first, channel, pending)
            async for request in rest:
                await self._forward(request, channel, pending)
        except BaseException:
            await channel.close()
            raise
        finally:
            pending.closed = True
            if pending.count <= 0:
                await channel.close()  # the runner then ends the session: receive() gives None

    async def _forward(
        self, request: pb.StreamExecuteRequest, channel: LiveChannel, pending: _Pending
    ) -> None:
        if not request.HasField("command"):
            return
        message = runner_command(request.command)
        if message is None:
            return
        if message["op"] in ("run", "complete"):
            pending.count += 1
        await channel.send(message)

    @override
    async def InterruptExecution(
        self, request: pb.InterruptExecutionRequest, context: grpc.aio.ServicerContext
    ) -> pb.InterruptExecutionResponse:
        require_system()
        await self._live.interrupt(request.kernel_id)
        return pb.InterruptExecutionResponse()


class _Pending:
    """Commands still waiting for their answer, and whether the caller stopped sending."""

    def __init__(self) -> None:
        self.count = 0
        self.closed = False

    def answered(self) -> bool:
        """Count one answer; True when the stream should end now."""
        self.count -= 1
        return self.closed and self.count <= 0
