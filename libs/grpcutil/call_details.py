"""Client interceptors that rewrite every call's details (its metadata) before it is sent.

grpc.aio files an interceptor under one call kind only (its isinstance chain is if/elif), so a
rewrite that must reach every call needs one interceptor object per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Rewrite = Callable[[grpc.aio.ClientCallDetails], grpc.aio.ClientCallDetails]


def with_metadata(
    details: grpc.aio.ClientCallDetails, items: dict[str, str]
) -> grpc.aio.ClientCallDetails:
    """`details` with `items` set in (or replacing those keys of) its metadata."""
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    for key, value in items.items():
        metadata[key] = value
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _Rewriting:
    def __init__(self, rewrite: Rewrite) -> None:
        self._rewrite = rewrite


class UnaryUnaryRewrite(_Rewriting, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._rewrite(details), request)


class UnaryStreamRewrite(_Rewriting, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._rewrite(details), request)


class StreamUnaryRewrite(_Rewriting, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._rewrite(details), request_iterator)


class StreamStreamRewrite(_Rewriting, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._rewrite(details), request_iterator)


def rewriting_interceptors(rewrite: Rewrite) -> list[grpc.aio.ClientInterceptor]:
    """One interceptor per call kind, each applying `rewrite` to the call's details."""
    return [
        UnaryUnaryRewrite(rewrite),
        UnaryStreamRewrite(rewrite),
        StreamUnaryRewrite(rewrite),
        StreamStreamRewrite(rewrite),
    ]
