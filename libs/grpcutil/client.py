"""Channels to peer services: the internal token on every call, keepalive, deadlines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from libs.core.config import MtlsFiles
from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM
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


class _TokenMetadata:
    def __init__(self, token: str) -> None:
        self._token = token

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata[HEADER_INTERNAL_TOKEN] = self._token
        metadata[HEADER_SYSTEM] = "1"
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files an interceptor under only one call kind (its isinstance chain is if/elif), so
# each kind needs its own object.
class _UnaryTokenInterceptor(_TokenMetadata, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)


class _StreamTokenInterceptor(_TokenMetadata, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)


class _BidiTokenInterceptor(_TokenMetadata, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._with_token(details), request_iterator)


def internal_channel(
    address: str, internal_token: str, mtls: MtlsFiles | None = None
) -> grpc.aio.Channel:
    """A channel whose calls carry the internal token (peer services treat us as `system`);
    with `mtls`, over mutual TLS (the peer's certificate must come from our CA)."""
    interceptors = [
        _UnaryTokenInterceptor(internal_token),
        _StreamTokenInterceptor(internal_token),
        _BidiTokenInterceptor(internal_token),
    ]
    if mtls is None:
        return grpc.aio.insecure_channel(
            address, options=_CHANNEL_OPTIONS, interceptors=interceptors
        )
    return grpc.aio.secure_channel(
        address, channel_credentials(mtls), options=_CHANNEL_OPTIONS, interceptors=interceptors
    )
