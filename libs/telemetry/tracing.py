"""OpenTelemetry setup, and trace-context helpers for hops that are not gRPC calls."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased


def setup_tracing(
    service: str,
    *,
    otlp_endpoint: str | None,
    sample_ratio: float = 1.0,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Install a tracer provider; export over OTLP/gRPC when an endpoint is configured.

    Trace context crosses gRPC calls either way: channels built by
    `libs.grpcutil.client.internal_channel` open a client span per call and send its context
    (`client_spans`), servers built by `libs.grpcutil.server.create_server` continue it in their
    server spans (`server_spans`).
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
    return provider


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
