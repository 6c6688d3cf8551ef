"""Terminals in kernels through their agents' KernelTerminalService (one bidi stream each)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from shipyard.agent.v1 import terminal_service_pb2 as agent_pb
from shipyard.agent.v1 import terminal_service_pb2_grpc as agent_grpc

from libs.core.config import MtlsFiles
from libs.core.errors import ShipyardError
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc
from services.registry.adapters.channel_pool import ChannelPool
from services.registry.adapters.peer_clients import AGENT_ADDRESS_METADATA
from services.registry.domain.errors import AgentUnavailable
from services.registry.domain.model import TerminalChunk


def _error(exc: grpc.aio.AioRpcError) -> ShipyardError:
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return AgentUnavailable(f"agent terminal failed: {exc.code().name}: {exc.details()}")
    return error_from_rpc(exc)


class GrpcAgentTerminal:
    def __init__(self, call: grpc.aio.StreamStreamCall, release: contextlib.AsyncExitStack) -> None:
        self._call = call
        self._release = release

    async def send(self, data: bytes = b"", size: tuple[int, int] | None = None) -> None:
        request = agent_pb.OpenKernelTerminalRequest(data=data)
        if size is not None:
            request.size.rows, request.size.cols = size
        try:
            await self._call.write(request)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc

    async def chunks(self) -> AsyncIterator[TerminalChunk]:
        try:
            async for response in self._call:
                out = response.output
                code = out.exit.code if out.HasField("exit") else None
                yield TerminalChunk(data=out.data, exit_code=code)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc

    async def hang_up(self) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
            await self._call.done_writing()

    async def close(self) -> None:
        self._call.cancel()  # if still open, the agent hangs the terminal up
        await self._release.aclose()


class GrpcAgentTerminals:
    """Channels per agent (its own pool: a terminal holds its channel for as long as it runs)."""

    def __init__(self, internal_token: str, *, mtls: MtlsFiles | None = None) -> None:
        self._pool = ChannelPool(lambda address: internal_channel(address, internal_token, mtls))

    async def open(
        self, address: str, kernel_id: str, size: tuple[int, int] | None
    ) -> GrpcAgentTerminal:
        stack = contextlib.AsyncExitStack()
        channel = await stack.enter_async_context(self._pool.use(address.partition("#")[0]))
        stub = agent_grpc.KernelTerminalServiceStub(channel)
        call = stub.OpenKernelTerminal(metadata=((AGENT_ADDRESS_METADATA, address),))
        first = agent_pb.OpenKernelTerminalRequest(kernel_id=kernel_id)
        if size is not None:
            first.size.rows, first.size.cols = size
        try:
            await call.write(first)
            await call.initial_metadata()  # the agent opened the PTY, or refused (trailers only)
            if call.done():
                await call.read()  # raises the refusal
        except grpc.aio.AioRpcError as exc:
            call.cancel()
            await stack.aclose()
            raise _error(exc) from exc
        return GrpcAgentTerminal(call, stack)

    async def close(self) -> None:
        await self._pool.close()
