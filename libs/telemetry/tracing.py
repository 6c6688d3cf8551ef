"""OpenTelemetry setup, trace-context helpers for hops that are not gRPC calls, and the server
span of the gRPC methods that trace themselves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

_instrumented = False

# Methods that open their own server span (`server_span`) instead of the instrumentation's: the
# edge's ext_authz Check runs for every signed request, and the generic interceptor's work per
# call (a new handler, peer parsing, a wrapped servicer context) cost more than twice this span.
SELF_TRACED_METHODS = frozenset({"/envoy.service.auth.v3.Authorization/Check"})
_tracer = trace.get_tracer(__name__)


def setup_tracing(
    service: str,
    *,
    otlp_endpoint: str | None,
    sample_ratio: float = 1.0,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Install a tracer provider; export over OTLP/gRPC when an endpoint is configured.

    gRPC instrumentation is installed either way so that trace context propagates through
    services even when this one does not export.
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    instrument_grpc()
    return provider


def instrument_grpc() -> None:
    """Instrument grpc.aio servers and clients (must run before they are created)."""
    global _instrumented
    if _instrumented:
        return
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
    )

    GrpcAioInstrumentorServer(filter_=_instrumented_method).instrument()
    GrpcAioInstrumentorClient().instrument()
    _instrumented = True


def _instrumented_method(details: Any) -> bool:
    return details.method not in SELF_TRACED_METHODS


@contextmanager
def server_span(
    method: str, metadata: Any, tracer: trace.Tracer | None = None
) -> Iterator[trace.Span]:
    """A server span for gRPC `method` ("/package.Service/Method"), a child of the trace context
    in the call's `metadata` (`context.invocation_metadata()`), named as the instrumentation
    names its spans; for the methods in SELF_TRACED_METHODS."""
    parent = propagate.extract(dict(metadata or ()))
    service, _, name = method[1:].partition("/")
    attributes: dict[str, str | int] = {
        "rpc.system": "grpc",
        "rpc.service": service,
        "rpc.method": name,
        "rpc.grpc.status_code": 0,  # these methods answer every outcome in their reply
    }
    with (tracer or _tracer).start_as_current_span(
        method, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span


def current_trace_context() -> dict[str, str]:
    """The current span's W3C trace context, to carry across Redis or the database."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def attach_trace_context(carrier: Mapping[str, str]) -> object:
    """Make `carrier`'s trace the current context; pass the token to `detach`."""
    ctx = propagate.extract(dict(carrier))
    return otel_context.attach(ctx)


def detach(token: object) -> None:
    otel_context.detach(token)  # type: ignore[arg-type]  # the token comes from attach_trace_context
