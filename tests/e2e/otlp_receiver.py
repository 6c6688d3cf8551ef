"""An in-process OTLP/gRPC trace receiver: collects the spans every component exports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []

    async def Export(self, request, context):
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(ReceivedSpan(service, span.name, span.trace_id.hex()))
        return trace_service_pb2.ExportTraceServiceResponse()

    def services_by_trace(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for span in self.spans:
            found[span.trace_id].add(span.service)
        return found


async def start_receiver() -> tuple[grpc.aio.Server, Receiver, int]:
    server = grpc.aio.server()
    receiver = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, receiver, port
