"""Sign native gRPC calls through the edge with a keypair (the same HMAC scheme as REST).

For gRPC the signed request is `POST /<package>.<Service>/<Method>` with content type
`application/grpc` and the channel's authority as the host.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from libs.core.signing import DEFAULT_API_VERSION, authorization_header, sign


class _Signer:
    def __init__(
        self,
        authority: str,
        access_key: str,
        secret_key: str,
        api_version: str = DEFAULT_API_VERSION,
    ) -> None:
        self._authority = authority
        self._access_key = access_key
        self._secret_key = secret_key
        self._version = api_version

    def _signed(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        now = datetime.now(UTC)
        signature = sign(
            secret_key=self._secret_key,
            method="POST",
            rel_url=method,
            date=now,
            host=self._authority,
            content_type="application/grpc",
            api_version=self._version,
        )
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata["date"] = now.isoformat()
        metadata["x-backendai-version"] = self._version
        metadata["authorization"] = authorization_header(self._access_key, signature)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files an interceptor under one call kind only, so each kind gets its own class.
class UnarySigningInterceptor(_Signer, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._signed(details), request)


class StreamSigningInterceptor(_Signer, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._signed(details), request)


class ClientStreamSigningInterceptor(_Signer, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._signed(details), request_iterator)


class BidiStreamSigningInterceptor(_Signer, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._signed(details), request_iterator)


def signed_channel(
    address: str, access_key: str, secret_key: str, *, tls: bool = False, ca_file: str | None = None
) -> grpc.aio.Channel:
    """A channel to the edge whose calls are signed with the keypair (TLS when `tls`)."""
    interceptors = [
        UnarySigningInterceptor(address, access_key, secret_key),
        StreamSigningInterceptor(address, access_key, secret_key),
        ClientStreamSigningInterceptor(address, access_key, secret_key),
        BidiStreamSigningInterceptor(address, access_key, secret_key),
    ]
    if not tls:
        return grpc.aio.insecure_channel(address, interceptors=interceptors)
    roots = Path(ca_file).read_bytes() if ca_file else None
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return grpc.aio.secure_channel(address, credentials, interceptors=interceptors)
