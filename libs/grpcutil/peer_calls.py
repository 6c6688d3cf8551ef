"""What every call to a peer service carries, added by one interceptor per call kind: the internal
token (the peer treats us as `system`) and the trace context of the call's client span
(`libs.telemetry.client_spans`), which ends with the call.

One interceptor does both, so a call pays for one pass through grpc.aio's interceptor chain, and
the metadata is built once. (A token interceptor and OpenTelemetry's grpc.aio client
instrumentation, used before, cost ~60 µs more client CPU per call: docs/performance.md,
"Client spans".)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM
from libs.grpcutil.call_details import with_metadata
from libs.telemetry.client_spans import ClientSpans

Continuation = Callable[..., Any]


class _PeerCalls:
    def __init__(self, token: str, spans: ClientSpans) -> None:
        self._items = {HEADER_INTERNAL_TOKEN: token, HEADER_SYSTEM: "1"}
        self._spans = spans

    def _details(self, details: grpc.aio.ClientCallDetails) -> tuple[Any, Any]:
        span, carrier = self._spans.open(details.method)
        return span, with_metadata(details, self._items | carrier)

    async def _unary_response(self, continuation: Continuation, details: Any, request: Any) -> Any:
        span, details = self._details(details)
        try:
            call = await continuation(details, request)
        except BaseException as exc:
            ClientSpans.fail(span, exc)
            raise
        try:
            await call  # the response, kept by the call for its caller
        except grpc.aio.AioRpcError as exc:
            ClientSpans.fail(span, exc)  # its caller gets the same error from the call
        except BaseException as exc:
            ClientSpans.fail(span, exc)
            raise
        else:
            span.end()
        return call

    async def _stream_response(
        self, continuation: Continuation, details: Any, request: Any
    ) -> AsyncIterator[Any]:
        span, details = self._details(details)
        try:
            call = await continuation(details, request)
        except BaseException as exc:
            ClientSpans.fail(span, exc)
            raise
        return _responses(call, span)


async def _responses(call: Any, span: Any) -> AsyncIterator[Any]:
    """The call's responses; its span ends with the stream (or when the caller stops reading)."""
    failed = False
    try:
        async for response in call:
            yield response
    except Exception as exc:
        failed = True
        ClientSpans.fail(span, exc)
        raise
    finally:
        if not failed:
            span.end()


class _UnaryUnary(_PeerCalls, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_unary(
        self, continuation: Continuation, details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await self._unary_response(continuation, details, request)


class _UnaryStream(_PeerCalls, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_unary_stream(
        self, continuation: Continuation, details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await self._stream_response(continuation, details, request)


class _StreamUnary(_PeerCalls, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_stream_unary(
        self, continuation: Continuation, details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await self._unary_response(continuation, details, requests)


class _StreamStream(_PeerCalls, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]  # untyped base
    async def intercept_stream_stream(
        self, continuation: Continuation, details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await self._stream_response(continuation, details, requests)


def peer_call_interceptors(
    token: str, spans: ClientSpans | None = None
) -> list[grpc.aio.ClientInterceptor]:
    """The interceptors of a channel to a peer service (grpc.aio files each under one kind)."""
    shared = spans or ClientSpans()
    return [cls(token, shared) for cls in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]
