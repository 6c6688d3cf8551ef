"""Channels to peer services: the internal token on every call, keepalive, deadlines."""

from __future__ import annotations

import grpc

from libs.core.config import MtlsFiles
from libs.grpcutil.peer_calls import peer_call_interceptors
from libs.grpcutil.tls import channel_credentials

# Keepalive so that idle connections through middleboxes are noticed (rule R-KEEPALIVE).
# Servers built by libs.grpcutil.server accept pings this often (SERVER_KEEPALIVE_OPTIONS).
KEEPALIVE_TIME_MS = 30_000
_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]


def internal_channel(
    address: str, internal_token: str, mtls: MtlsFiles | None = None
) -> grpc.aio.Channel:
    """A channel whose calls carry the internal token (peer services treat us as `system`) and
    each its client span's trace context; with `mtls`, over mutual TLS (the peer's certificate
    must come from our CA)."""
    interceptors = peer_call_interceptors(internal_token)
    if mtls is None:
        return grpc.aio.insecure_channel(
            address, options=_CHANNEL_OPTIONS, interceptors=interceptors
        )
    return grpc.aio.secure_channel(
        address, channel_credentials(mtls), options=_CHANNEL_OPTIONS, interceptors=interceptors
    )
