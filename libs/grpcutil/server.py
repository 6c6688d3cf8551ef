"""One way to build a Shipyard gRPC server: interceptor, health and reflection included."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from libs.core.config import MtlsFiles
from libs.grpcutil.client import KEEPALIVE_TIME_MS
from libs.grpcutil.interceptors import PeerRule, RefusalObserver, ServiceInterceptor
from libs.grpcutil.tls import server_credentials

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Registration:
    """A servicer with the generated `add_XServicer_to_server` function and full service name."""

    add: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    name: str


@dataclass(slots=True)
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int

    async def start(self) -> None:
        await self.server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float = 5.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


# Our clients ping idle connections every KEEPALIVE_TIME_MS. grpc's server default (a ping
# without calls at most every 5 min, two strikes) answered the third with GOAWAY
# "too_many_pings", and the first call after an idle spell could fail UNAVAILABLE.
SERVER_KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_TIME_MS // 6),
]


def create_server(
    *,
    domain: str,
    internal_token: str,
    bind: str,
    services: Sequence[Registration],
    on_refusal: RefusalObserver | None = None,
    mtls: MtlsFiles | None = None,
    peer_rule: PeerRule | None = None,
    tracer: trace.Tracer | None = None,
) -> GrpcServer:
    """Build (not start) a server listening on `bind` ("host:port"; port 0 picks a free one);
    with `mtls`, only clients holding a certificate of the deployment's CA connect, and
    `peer_rule` may refuse some of them by their certificate's name. Every call gets a server
    span from `tracer` (default: the global tracer provider's)."""
    interceptor = ServiceInterceptor(
        domain=domain,
        internal_token=internal_token,
        on_refusal=on_refusal,
        peer_rule=peer_rule,
        tracer=tracer,
    )
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
            *SERVER_KEEPALIVE_OPTIONS,
        ],
    )
    for reg in services:
        reg.add(reg.servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [reg.name for reg in services]
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    if mtls is None:
        port = server.add_insecure_port(bind)
    else:
        port = server.add_secure_port(bind, server_credentials(mtls))
    if port == 0:
        raise RuntimeError(f"cannot bind gRPC server to {bind}")
    return GrpcServer(server=server, health=health_servicer, port=port)
