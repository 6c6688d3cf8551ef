"""The server span of self-traced gRPC methods (the edge's ext_authz Check)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from libs.telemetry.server_spans import SELF_TRACED_METHODS, ServerSpans, server_span

CHECK = "/envoy.service.auth.v3.Authorization/Check"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


def _tracer() -> tuple[InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider


def test_the_span_continues_the_callers_trace_as_the_instrumentation_would():
    exporter, provider = _tracer()
    metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"), ("user-agent", "envoy"))
    with server_span(CHECK, metadata, provider.get_tracer("test")) as span:
        span.set_attribute("http.response.status_code", 401)
    (finished,) = exporter.get_finished_spans()
    assert finished.name == CHECK
    assert finished.kind is SpanKind.SERVER
    assert format(finished.context.trace_id, "032x") == TRACE_ID
    assert finished.parent is not None and format(finished.parent.span_id, "016x") == PARENT_ID
    assert finished.attributes is not None
    assert finished.attributes["rpc.service"] == "envoy.service.auth.v3.Authorization"
    assert finished.attributes["rpc.method"] == "Check"
    assert finished.attributes["http.response.status_code"] == 401


def test_without_trace_context_the_span_starts_a_trace():
    exporter, provider = _tracer()
    with server_span(CHECK, None, provider.get_tracer("test")):
        pass
    (finished,) = exporter.get_finished_spans()
    assert finished.parent is None


def test_only_self_traced_methods_skip_the_interceptors_span():
    assert CHECK in SELF_TRACED_METHODS
    assert not ServerSpans.traces(CHECK)
    identity = "/shipyard.auth.v1.IdentityService/GetCurrentIdentity"
    assert ServerSpans.traces(identity)
