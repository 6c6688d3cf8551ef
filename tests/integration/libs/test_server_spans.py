"""Every call a Shipyard server answers has its server span, opened by the shared interceptor:
named after the method, a child of the caller's trace, with the call's outcome on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy_ext_authz.v3 import external_auth_pb2 as authz
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.registry.v1 import session_service_pb2_grpc as pb_grpc

from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers
from libs.grpcutil.context import current_caller
from libs.grpcutil.server import Registration
from tests.integration.libs.served import TOKEN, serving

GET = "/shipyard.registry.v1.SessionService/GetSession"
CHECK = "/envoy.service.auth.v3.Authorization/Check"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
SID = "00000000-0000-4000-8000-000000000005"


class Sessions(pb_grpc.SessionServiceServicer):
    def __init__(self) -> None:
        self.trace_ids: list[int] = []

    async def GetSession(self, request, context):
        # What the servicer's own work (and its outgoing calls) sees as the current span.
        self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        if request.session_id.endswith("1"):
            raise RuntimeError("a bug")
        return pb.GetSessionResponse(session=pb.Session(session_id=current_caller().user_id))


class EmptyCheck(authz_grpc.AuthorizationServicer):
    async def Check(self, request, context):
        return authz.CheckResponse()


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, InMemorySpanExporter, Sessions]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sessions = Sessions()
    registrations = (
        Registration(
            pb_grpc.add_SessionServiceServicer_to_server,
            sessions,
            "shipyard.registry.v1.SessionService",
        ),
        Registration(
            authz_grpc.add_AuthorizationServicer_to_server,
            EmptyCheck(),
            "envoy.service.auth.v3.Authorization",
        ),
    )
    async with serving(*registrations, tracer=provider.get_tracer("test")) as channel:
        yield channel, exporter, sessions


def _md(*extra: tuple[str, str]) -> list[tuple[str, str]]:
    headers = caller_to_headers(Caller(user_id="u-1", role=Role.USER))
    return [(HEADER_INTERNAL_TOKEN, TOKEN), *headers.items(), *extra]


def _spans(exporter: InMemorySpanExporter, name: str) -> list:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_a_call_continues_the_callers_trace_in_its_server_span(served) -> None:
    channel, exporter, sessions = served
    traceparent = ("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01")
    stub = pb_grpc.SessionServiceStub(channel)
    await stub.GetSession(pb.GetSessionRequest(session_id=SID), metadata=_md(traceparent))
    (span,) = _spans(exporter, GET)
    assert span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert sessions.trace_ids == [span.context.trace_id]  # current while the servicer runs
    attributes = dict(span.attributes or {})
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == "shipyard.registry.v1.SessionService"
    assert attributes["rpc.method"] == "GetSession"
    assert attributes["rpc.grpc.status_code"] == 0
    assert attributes["net.peer.ip"] == "127.0.0.1"
    assert attributes["net.peer.name"] == "localhost"
    assert str(attributes["rpc.user_agent"]).startswith("grpc-python")


async def test_refused_and_failed_calls_carry_their_status_code(served) -> None:
    channel, exporter, sessions = served
    stub = pb_grpc.SessionServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError):  # no identity: refused before the servicer
        await stub.GetSession(pb.GetSessionRequest(session_id=SID))
    with pytest.raises(grpc.aio.AioRpcError):  # the servicer fails: INTERNAL
        await stub.GetSession(pb.GetSessionRequest(session_id=SID[:-1] + "1"), metadata=_md())
    refused, failed = _spans(exporter, GET)
    assert refused.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert refused.status.status_code is StatusCode.UNSET  # the caller's doing
    assert failed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    assert failed.status.status_code is StatusCode.ERROR
    assert sessions.trace_ids == [failed.context.trace_id]


async def test_health_has_spans_and_self_traced_methods_only_their_own(served) -> None:
    channel, exporter, _ = served
    await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert len(_spans(exporter, "/grpc.health.v1.Health/Check")) == 1
    await authz_grpc.AuthorizationStub(channel).Check(authz.CheckRequest(), metadata=_md())
    assert _spans(exporter, CHECK) == []  # the real Check opens its span itself (server_span)


async def test_health_watch_streams_its_status_and_has_its_span(served) -> None:
    # grpc's health Watch writes with context.write rather than yielding its replies.
    channel, exporter, _ = served
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    first = await call.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    call.cancel()
    watch = "/grpc.health.v1.Health/Watch"
    for _ in range(100):  # the server ends the span once it has seen the cancellation
        if _spans(exporter, watch):
            break
        await asyncio.sleep(0.02)
    (span,) = _spans(exporter, watch)
    assert span.kind == SpanKind.SERVER
