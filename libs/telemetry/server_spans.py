"""The server span of every gRPC call a Shipyard server answers.

`ServerSpans` is opened by the server's own interceptor (`libs.grpcutil.interceptors`) around
each call: a SERVER span named after the method ("/package.Service/Method"), a child of the
trace context in the call's metadata (which stays current while the servicer runs, so its own
calls continue the trace), with the `rpc.*` and `net.peer.*` attributes OpenTelemetry's gRPC
conventions give it and the status code the call ended with. The methods in
SELF_TRACED_METHODS open their span themselves (`server_span`), with their own outcome on it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode

# Methods that open their own server span (`server_span`): the edge's ext_authz Check answers
# every outcome in its reply, which its span records (`http.response.status_code`).
SELF_TRACED_METHODS = frozenset({"/envoy.service.auth.v3.Authorization/Check"})

# Codes that mean the server failed (the others are the caller's doing): the span's status is
# an error for these, as OpenTelemetry's gRPC conventions have it.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_PEER_CACHE_SIZE = 1024
_LOCALHOST = ("[::1]", "127.0.0.1")
_tracer = trace.get_tracer(__name__)

Attributes = dict[str, str | int]


def rpc_attributes(method: str) -> Attributes:
    """The attributes every server span of `method` carries (status code 0 until it ends)."""
    service, _, name = method[1:].partition("/")
    return {
        "rpc.system": "grpc",
        "rpc.grpc.status_code": 0,
        "rpc.method": name,
        "rpc.service": service,
    }


def peer_attributes(peer: str) -> Attributes:
    """`net.peer.*` of a grpc peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", ...)."""
    if peer.startswith("unix:"):
        return {}
    try:
        ip, port = peer.split(",")[0].split(":", 1)[1].rsplit(":", 1)
    except (IndexError, ValueError):
        return {}
    ip = unquote(ip)
    found: Attributes = {"net.peer.ip": ip, "net.peer.port": port}
    if ip in _LOCALHOST:
        found["net.peer.name"] = "localhost"
    return found


class ServerSpans:
    """Opens the server span of each call; what can be is worked out once per method or peer."""

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer(__name__)
        self._methods: dict[str, Attributes] = {}
        self._peers: dict[str, Attributes] = {}

    @staticmethod
    def traces(method: str) -> bool:
        return method not in SELF_TRACED_METHODS

    def call(
        self, method: str, metadata: Mapping[str, str], context: grpc.aio.ServicerContext
    ) -> SpanScope:
        """The call's span, current (with the caller's trace context) until the call ends."""
        attributes = self._attributes(method, metadata, context)
        return SpanScope(self._tracer, method, metadata, attributes, context)

    def _attributes(
        self, method: str, metadata: Mapping[str, str], context: grpc.aio.ServicerContext
    ) -> Attributes:
        base = self._methods.get(method)
        if base is None:
            base = self._methods[method] = rpc_attributes(method)
        peer = context.peer() or ""
        of_peer = self._peers.get(peer)
        if of_peer is None:
            if len(self._peers) >= _PEER_CACHE_SIZE:
                self._peers.clear()
            of_peer = self._peers[peer] = peer_attributes(peer)
        attributes = {**base, **of_peer}
        agent = metadata.get("user-agent")
        if agent is not None:
            attributes["rpc.user_agent"] = agent
        return attributes


def _record_code(span: trace.Span, context: Any) -> None:
    code = context.code()
    if code is None or code == grpc.StatusCode.OK or not isinstance(code, grpc.StatusCode):
        return
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, f"{code}:{context.details() or ''}"))


class SpanScope:
    """Opens a SERVER span as a child of the trace context in `metadata` and makes both current
    (one attach); on exit records the exception and, for a gRPC call, its status code."""

    __slots__ = ("_attributes", "_context", "_metadata", "_method", "_span", "_token", "_tracer")

    def __init__(
        self,
        tracer: trace.Tracer,
        method: str,
        metadata: Mapping[str, str],
        attributes: Attributes,
        context: Any = None,
    ) -> None:
        self._tracer = tracer
        self._method = method
        self._metadata = metadata
        self._attributes = attributes
        self._context = context

    def __enter__(self) -> trace.Span:
        parent = propagate.extract(self._metadata)
        span = self._tracer.start_span(
            self._method, context=parent, kind=trace.SpanKind.SERVER, attributes=self._attributes
        )
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span, parent))
        return span

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        span = self._span
        try:
            if exc is not None and span.is_recording():
                span.record_exception(exc)
            if self._context is not None:
                _record_code(span, self._context)
        finally:
            span.end()
            otel_context.detach(self._token)


def server_span(method: str, metadata: Any, tracer: trace.Tracer | None = None) -> SpanScope:
    """A server span for one of SELF_TRACED_METHODS, a child of the trace context in the call's
    `metadata` (`context.invocation_metadata()`, or an HTTP request's headers), named as
    `ServerSpans` names the others; these methods answer every outcome in their reply."""
    carrier = metadata if isinstance(metadata, Mapping) else dict(metadata or ())
    return SpanScope(tracer or _tracer, method, carrier, _method_attributes(method))


@functools.lru_cache(maxsize=64)
def _method_attributes(method: str) -> Attributes:
    return rpc_attributes(method)
