"""One real grpc.aio server built by `create_server`, for the tests of the shared server parts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from opentelemetry.trace import Tracer

from libs.grpcutil.server import Registration, create_server

TOKEN = "tok"


@contextlib.asynccontextmanager
async def serving(
    *services: Registration, tracer: Tracer | None = None
) -> AsyncIterator[grpc.aio.Channel]:
    """Serve `services` on a free loopback port and yield a plain channel to them."""
    server = create_server(
        domain="test.shipyard",
        internal_token=TOKEN,
        bind="127.0.0.1:0",
        services=list(services),
        tracer=tracer,
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        await server.stop(0)
