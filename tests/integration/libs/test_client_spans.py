"""Every call to a peer carries the internal token and its client span's trace context; the
span records how the call ended (real grpc.aio server and channel)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.registry.v1 import session_service_pb2_grpc as pb_grpc

from libs.core.identity import SYSTEM_CALLER
from libs.grpcutil.context import current_caller
from libs.grpcutil.peer_calls import peer_call_interceptors
from libs.grpcutil.server import Registration, create_server
from libs.telemetry.client_spans import ClientSpans

TOKEN = "tok"
GET = "/shipyard.registry.v1.SessionService/GetSession"
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"


class Sessions(pb_grpc.SessionServiceServicer):
    async def GetSession(self, request, context):
        # Who the server took the caller for.
        caller = "system" if current_caller() == SYSTEM_CALLER else "someone else"
        return pb.GetSessionResponse(session=pb.Session(name=caller))


@pytest.fixture
async def peer() -> AsyncIterator[tuple[grpc.aio.Channel, InMemorySpanExporter, Tracer]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    server = create_server(
        domain="test.shipyard",
        internal_token=TOKEN,
        bind="127.0.0.1:0",
        services=[
            Registration(
                pb_grpc.add_SessionServiceServicer_to_server,
                Sessions(),
                "shipyard.registry.v1.SessionService",
            )
        ],
        tracer=tracer,
    )
    await server.start()
    interceptors = peer_call_interceptors(TOKEN, ClientSpans(tracer))
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{server.port}", interceptors=interceptors
        ) as channel:
            yield channel, exporter, tracer
    finally:
        await server.stop(0)


def _one(exporter: InMemorySpanExporter, name: str, kind: SpanKind):
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name and s.kind == kind]
    return span


async def test_a_call_is_a_client_span_of_the_callers_trace_continued_by_the_server(peer) -> None:
    channel, exporter, tracer = peer
    with tracer.start_as_current_span("caller's work") as work:
        reply = await pb_grpc.SessionServiceStub(channel).GetSession(
            pb.GetSessionRequest(session_id="00000000-0000-4000-8000-000000000001")
        )
    assert reply.session.name == "system"  # the internal token went with the call
    client = _one(exporter, GET, SpanKind.CLIENT)
    server = _one(exporter, GET, SpanKind.SERVER)
    assert client.parent is not None and client.parent.span_id == work.get_span_context().span_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert server.context.trace_id == work.get_span_context().trace_id
    assert dict(client.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.grpc.status_code": 0,
        "rpc.method": "GetSession",
        "rpc.service": "shipyard.registry.v1.SessionService",
    }
    assert client.status.status_code is StatusCode.UNSET


async def test_a_failed_call_fails_for_its_caller_and_on_its_span(peer) -> None:
    channel, exporter, _ = peer
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="no.such.Service")
        )
    assert failed.value.code() is grpc.StatusCode.NOT_FOUND
    client = _one(exporter, CHECK, SpanKind.CLIENT)
    assert client.attributes is not None
    assert client.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert client.status.status_code is StatusCode.ERROR


async def test_a_streams_span_ends_when_its_caller_stops_reading(peer) -> None:
    channel, exporter, _ = peer
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    first = await call.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert not [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    call.cancel()
    with pytest.raises(BaseException):  # noqa: B017  # the cancelled stream's own error
        await call.read()
    client = _one(exporter, WATCH, SpanKind.CLIENT)
    assert client.end_time is not None
