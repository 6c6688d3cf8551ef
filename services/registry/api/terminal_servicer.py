"""shipyard.registry.v1.TerminalService: a session's terminal over a bidi stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
from shipyard.registry.v1 import terminal_service_pb2 as pb
from shipyard.registry.v1 import terminal_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import terminal_pb2
from typing_extensions import override

from libs.core.errors import FieldViolation, InvalidArgument
from libs.grpcutil.context import current_caller
from services.registry.service.terminal import OpenTerminal
from services.registry.service.terminal_ports import AgentTerminal, SessionActivity

# Typing records the session as used at most this often (one Redis write, not one per key).
TOUCH_EVERY = 5.0


class TerminalServicer(pb_grpc.TerminalServiceServicer):
    def __init__(self, open_terminal: OpenTerminal, activity: SessionActivity) -> None:
        self._open = open_terminal
        self._activity = activity

    @override
    async def OpenTerminal(
        self,
        request_iterator: AsyncIterator[pb.OpenTerminalRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.OpenTerminalResponse]:
        caller = current_caller()
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.session_id:
            message = "the first message must name the session"
            raise InvalidArgument(
                f"session_id: {message}", violations=[FieldViolation("session_id", message)]
            )
        size = (first.size.rows, first.size.cols) if first.HasField("size") else None
        terminal = await self._open(caller, first.session_id, size)
        try:
            await context.send_initial_metadata(())  # accepted: the edge may answer 101/200
            await self._activity.touch(first.session_id)
            if first.data:
                await terminal.send(data=first.data)
            typing = asyncio.create_task(self._relay(request_iterator, terminal, first.session_id))
            try:
                async for chunk in terminal.chunks():
                    output = terminal_pb2.TerminalOutput(data=chunk.data)
                    if chunk.exit_code is not None:
                        output.exit.code = chunk.exit_code
                    yield pb.OpenTerminalResponse(output=output)
                if typing.done() and (failed := typing.exception()) is not None:
                    raise failed  # a bad message ended the terminal
            finally:
                typing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await typing
        finally:
            await terminal.close()

    async def _relay(
        self, requests: AsyncIterator[pb.OpenTerminalRequest], terminal: AgentTerminal, sid: str
    ) -> None:
        touched = time.monotonic()
        try:
            async for request in requests:
                size = (request.size.rows, request.size.cols) if request.HasField("size") else None
                await terminal.send(data=request.data, size=size)
                if request.data and time.monotonic() - touched >= TOUCH_EVERY:
                    touched = time.monotonic()
                    await self._activity.touch(sid)
        finally:
            await terminal.hang_up()
