"""The one server interceptor: the call's server span, identity, input validation and error
mapping (the checks themselves: `libs.grpcutil.admission`).

- Every call gets its server span (`libs.telemetry.server_spans`), health and reflection too.
- Identity headers are trusted only with the deployment's internal token (Envoy adds it);
  another Shipyard service says so explicitly (`x-shipyard-system`, stripped by the edge).
- Every method needs an access rule (`libs.core.rpc_access`): callers without a grant are refused
  before the servicer runs, and a method without a rule is refused for everyone.
- Requests are checked against their buf.validate rules before the servicer sees them.
- ShipyardError becomes a google.rpc.Status with ErrorInfo (and BadRequest); anything else
  becomes INTERNAL with a fixed message, so no Python detail leaks to clients.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import grpc
import protovalidate
from google.protobuf.message import Message
from opentelemetry import trace

from libs.core.errors import PermissionDenied, ShipyardError
from libs.grpcutil.admission import authorize, caller_from_metadata, text_metadata, validate
from libs.grpcutil.context import set_caller
from libs.grpcutil.status import grpc_status, internal_status, to_status
from libs.grpcutil.tls import peer_name
from libs.telemetry.server_spans import ServerSpans

log = logging.getLogger(__name__)

_EXEMPT_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]
ClientStreamBehavior = Callable[[AsyncIterator[Any], grpc.aio.ServicerContext], Awaitable[Any]]
BidiBehavior = Callable[[AsyncIterator[Any], grpc.aio.ServicerContext], AsyncIterator[Any]]


PeerRule = Callable[[str | None], bool]
"""May the holder of this certificate (its common name; None without TLS) call the service?"""

RefusalObserver = Callable[[str, Any, grpc.aio.ServicerContext, ShipyardError], Awaitable[None]]
"""Told (method, request, context, error) about calls refused before the servicer ran."""


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # untyped base
    def __init__(
        self,
        *,
        domain: str,
        internal_token: str,
        on_refusal: RefusalObserver | None = None,
        peer_rule: PeerRule | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._domain = domain
        self._peer_rule = peer_rule
        self._token = internal_token
        self._validator = protovalidate.Validator()
        self._on_refusal = on_refusal
        self._spans = ServerSpans(tracer)
        # Per method: the servicer's handler and its wrapped twin, built once (the generated
        # servicers hand out the same handler every call; building one per call was measurable
        # on small RPCs). One entry per method; rebuilt if the handler ever changes.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        cached = self._wrapped.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, details.method)
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        if method.startswith(_EXEMPT_PREFIXES):  # traced, not admitted: anyone may ask
            return self._wrap_exempt(handler, method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_client_stream(handler.stream_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_bidi(handler.stream_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap_unary(self, behavior: UnaryBehavior, method: str) -> UnaryBehavior:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata = text_metadata(context)
            with self._span(method, metadata, context):
                try:
                    await self._admit(request, context, method, metadata)
                    return await behavior(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await self._abort(exc, request, context)

        return call

    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            metadata = text_metadata(context)
            with self._span(method, metadata, context):
                try:
                    await self._admit(request, context, method, metadata)
                    async for item in behavior(request, context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await self._abort(exc, request, context)

        return call

    def _wrap_client_stream(
        self, behavior: ClientStreamBehavior, method: str
    ) -> ClientStreamBehavior:
        """The caller is admitted before the first message is read; every message is validated."""

        async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
            async for request in requests:
                validate(self._validator, request)
                yield request

        async def call(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            metadata = text_metadata(context)
            with self._span(method, metadata, context):
                try:
                    await self._admit(None, context, method, metadata)
                    return await behavior(checked(requests), context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await self._abort(exc, None, context)

        return call

    def _wrap_bidi(self, behavior: BidiBehavior, method: str) -> BidiBehavior:
        """Admitted before the first message is read; every message is validated."""

        async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
            async for request in requests:
                validate(self._validator, request)
                yield request

        async def call(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            metadata = text_metadata(context)
            with self._span(method, metadata, context):
                try:
                    await self._admit(None, context, method, metadata)
                    async for item in behavior(checked(requests), context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await self._abort(exc, None, context)

        return call

    def _wrap_exempt(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """Health and reflection: the servicer runs as it is, inside the call's span."""

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with self._span(method, text_metadata(context), context):
                return await handler.unary_unary(request, context)

        behavior = handler.unary_stream or handler.stream_stream

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with self._span(method, text_metadata(context), context):
                async for item in behavior(request, context):
                    yield item

        async def writing(request: Any, context: grpc.aio.ServicerContext) -> None:
            with self._span(method, text_metadata(context), context):
                await behavior(request, context)

        # A streaming servicer either yields its replies or writes them with `context.write`
        # (grpc's health Watch does); its wrapper must be of the same kind.
        if inspect.iscoroutinefunction(behavior):
            streaming = writing  # type: ignore[assignment]  # grpc.aio takes either kind

        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(unary, **codecs)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(streaming, **codecs)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(streaming, **codecs)
        return handler

    def _span(
        self, method: str, metadata: dict[str, str], context: grpc.aio.ServicerContext
    ) -> AbstractContextManager[object]:
        if not self._spans.traces(method):
            return nullcontext()
        return self._spans.call(method, metadata, context)

    async def _abort(self, exc: Exception, request: Any, context: grpc.aio.ServicerContext) -> None:
        """End the call with the error's status (abort_with_status raises AbortError)."""
        if isinstance(exc, ShipyardError):
            status = to_status(exc, self._domain)
        else:
            log.error("unexpected error in %s", type(request).__name__, exc_info=exc)
            status = internal_status()
        await context.abort_with_status(grpc_status(status))

    async def _admit(
        self,
        request: Any,
        context: grpc.aio.ServicerContext,
        method: str,
        metadata: dict[str, str],
    ) -> None:
        try:
            self._prepare(request, context, method, metadata)
        except ShipyardError as exc:
            if self._on_refusal is not None:  # e.g. auth's audit log records refused admin calls
                await self._on_refusal(method, request, context, exc)
            raise

    def _prepare(
        self,
        request: Message | None,
        context: grpc.aio.ServicerContext,
        method: str,
        metadata: dict[str, str],
    ) -> None:
        if self._peer_rule is not None:
            peer = peer_name(context)
            if not self._peer_rule(peer):
                raise PermissionDenied(f"the caller's certificate ({peer}) may not call {method}")
        caller = caller_from_metadata(metadata, self._token)
        authorize(method, caller)
        set_caller(caller)
        if request is not None:
            validate(self._validator, request)
