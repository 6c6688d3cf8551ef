"""shipyard.agent.v1.KernelTerminalService: relay a kernel's terminal over a bidi stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
from shipyard.agent.v1 import terminal_service_pb2 as pb
from shipyard.agent.v1 import terminal_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import terminal_pb2
from typing_extensions import override

from libs.core.errors import InvalidArgument
from libs.grpcutil.context import require_system
from services.agent.service.ports import Terminal
from services.agent.service.terminal import OpenTerminal

TERMINAL_SERVICE_NAME = "shipyard.agent.v1.KernelTerminalService"


class KernelTerminalServicer(pb_grpc.KernelTerminalServiceServicer):
    def __init__(self, open_terminal: OpenTerminal) -> None:
        self._open = open_terminal

    @override
    async def OpenKernelTerminal(
        self,
        request_iterator: AsyncIterator[pb.OpenKernelTerminalRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.OpenKernelTerminalResponse]:
        require_system()
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.kernel_id:
            raise InvalidArgument("kernel_id: the first message must name the kernel")
        terminal = await self._open(first.kernel_id, first.size.rows, first.size.cols)
        await context.send_initial_metadata(())
        if first.data:
            await terminal.write(first.data)
        typing = asyncio.create_task(_relay_input(request_iterator, terminal))
        try:
            async for event in terminal.events():
                output = terminal_pb2.TerminalOutput(data=event.data)
                if event.exit_code is not None:
                    output.exit.code = event.exit_code
                yield pb.OpenKernelTerminalResponse(output=output)
            if typing.done() and (failed := typing.exception()) is not None:
                raise failed  # a bad message ended the terminal
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
            await terminal.close()


async def _relay_input(
    requests: AsyncIterator[pb.OpenKernelTerminalRequest], terminal: Terminal
) -> None:
    try:
        async for request in requests:
            if request.HasField("size"):
                await terminal.resize(request.size.rows, request.size.cols)
            if request.data:
                await terminal.write(request.data)
    finally:
        await terminal.close()  # the caller hung up (or sent a bad message)
