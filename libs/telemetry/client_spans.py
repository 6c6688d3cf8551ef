"""The client span of every call a Shipyard service makes to a peer (`libs.grpcutil.client`).

A CLIENT span named after the method ("/package.Service/Method"), a child of the current span,
with the `rpc.*` attributes OpenTelemetry's gRPC conventions give it and the status code the call
ended with; its W3C trace context travels in the call's metadata, so the peer's server span
(`server_spans`) continues the trace. The span is not made current: nothing runs inside it on
the caller's side but the call itself, and leaving the context alone saves an attach and a
detach per call.
"""

from __future__ import annotations

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode

from libs.telemetry.server_spans import Attributes, rpc_attributes

_tracer = trace.get_tracer(__name__)


class ClientSpans:
    """Opens and ends client spans; each method's attributes are worked out once."""

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or _tracer
        self._methods: dict[str, Attributes] = {}

    def open(self, method: str | bytes) -> tuple[trace.Span, dict[str, str]]:
        """The call's span and the trace context (metadata items) that carries it to the peer."""
        if isinstance(method, bytes):  # grpc.aio hands some interceptors the method as bytes
            method = method.decode()
        attributes = self._methods.get(method)
        if attributes is None:
            attributes = self._methods[method] = rpc_attributes(method)
        span = self._tracer.start_span(method, kind=trace.SpanKind.CLIENT, attributes=attributes)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        return span, carrier

    @staticmethod
    def fail(span: trace.Span, exc: BaseException) -> None:
        """End `span` for a call that failed with `exc` (a gRPC error carries its code)."""
        try:
            if isinstance(exc, grpc.RpcError):
                code = exc.code()
                if isinstance(code, grpc.StatusCode):
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            span.record_exception(exc)
        finally:
            span.end()
