"""Idle connections between services survive the clients' keepalive pings: a server built by
`create_server` accepts a ping as often as every sixth of the clients' interval, so it never
answers them with GOAWAY "too_many_pings" (which failed the first call after an idle spell)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from libs.grpcutil.client import KEEPALIVE_TIME_MS
from libs.grpcutil.server import create_server

pytestmark = pytest.mark.integration


async def test_a_connection_pinged_while_idle_stays_up() -> None:
    server = create_server(
        domain="test.shipyard", internal_token="t", bind="127.0.0.1:0", services=[]
    )
    await server.start()
    # Pings three times as often as real clients (still half as often as the server accepts),
    # so that three of them (grpc's strike limit is two) fit in half a minute of idle time.
    interval = KEEPALIVE_TIME_MS // 3
    options = [
        ("grpc.keepalive_time_ms", interval),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=options)
    try:
        health = health_pb2_grpc.HealthStub(channel)
        await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        await asyncio.sleep(3.5 * interval / 1000)
        # Still the same connection: no GOAWAY came, so it never left READY.
        assert channel.get_state() is grpc.ChannelConnectivity.READY
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await channel.close()
        await server.stop(0)
