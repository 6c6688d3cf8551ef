"""A test-only gRPC service with a server-streaming and a bidi RPC, both annotated `get:`, and
the descriptor set that adds it to the edge's (tests of the WebSocket/SSE bridge)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE = "bridgetest.v1.TickService"
_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name="bridgetest/v1/ticks.proto",
        package="bridgetest.v1",
        syntax="proto3",
        dependency=["google/api/annotations.proto"],
    )
    shapes = {
        "TicksRequest": [("last_event_id", _F.TYPE_STRING), ("count", _F.TYPE_INT32),
                         ("label", _F.TYPE_STRING), ("loud", _F.TYPE_BOOL)],
        "Tick": [("event_id", _F.TYPE_STRING), ("name", _F.TYPE_STRING), ("n", _F.TYPE_INT32),
                 ("label", _F.TYPE_STRING), ("loud", _F.TYPE_BOOL)],
        "ChatMessage": [("room", _F.TYPE_STRING), ("text", _F.TYPE_STRING)],
    }  # fmt: skip
    for name, fields in shapes.items():
        message = f.message_type.add(name=name)
        for number, (field_name, kind) in enumerate(fields, start=1):
            message.field.add(name=field_name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
    svc = f.service.add(name="TickService")
    ticks = svc.method.add(
        name="Ticks",
        input_type=".bridgetest.v1.TicksRequest",
        output_type=".bridgetest.v1.Tick",
        server_streaming=True,
    )
    ticks.options.Extensions[annotations_pb2.http].get = "/v1/test/ticks"
    chat = svc.method.add(
        name="Chat",
        input_type=".bridgetest.v1.ChatMessage",
        output_type=".bridgetest.v1.ChatMessage",
        client_streaming=True,
        server_streaming=True,
    )
    chat.options.Extensions[annotations_pb2.http].get = "/v1/test/rooms/{room}/chat"
    return f


def write_descriptor_set(base: Path, out: Path) -> Path:
    """The edge's descriptor set plus the test service."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(base.read_bytes())
    fds.file.append(_file())
    out.write_bytes(fds.SerializeToString())
    return out


def _classes() -> dict[str, type[Message]]:
    pool = descriptor_pool.DescriptorPool()
    for file in (descriptor_pb2, http_pb2, annotations_pb2):  # dependencies first
        pool.AddSerializedFile(file.DESCRIPTOR.serialized_pb)
    pool.Add(_file())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"bridgetest.v1.{name}"))
        for name in ("TicksRequest", "Tick", "ChatMessage")
    }


M = _classes()


class TickService:
    """Ticks: `count` ticks (ids 1..count) after `last_event_id`; label "deny" is refused at
    once, "fail-late" fails after the first tick. Chat: greets, echoes upper-cased; "bye" ends
    it, "boom" fails it; room "nope" does not exist."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    def _record(self, context: grpc.aio.ServicerContext) -> None:
        md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        self.metadata.append(md)

    async def ticks(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        self._record(context)
        if request.label == "deny":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not your ticks")
        start = int(request.last_event_id or 0) + 1
        for n in range(start, (request.count or 3) + 1):
            yield M["Tick"](event_id=str(n), name="tick", n=n, label=request.label,
                            loud=request.loud)  # fmt: skip
            if request.label == "fail-late":
                await context.abort(grpc.StatusCode.INTERNAL, "ticker broke")

    async def chat(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        self._record(context)
        first = await anext(aiter(requests))
        if first.room == "nope":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no room nope")
        yield M["ChatMessage"](room=first.room, text="joined")
        async for message in requests:
            if message.text == "bye":
                return
            if message.text == "boom":
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "boom")
            yield M["ChatMessage"](room=first.room, text=message.text.upper())

    def handler(self) -> grpc.GenericRpcHandler:
        def ser(m: Message) -> bytes:
            return m.SerializeToString()

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Ticks": grpc.unary_stream_rpc_method_handler(
                    self.ticks, M["TicksRequest"].FromString, ser
                ),
                "Chat": grpc.stream_stream_rpc_method_handler(
                    self.chat, M["ChatMessage"].FromString, ser
                ),
            },
        )


async def start_server(service: TickService) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((service.handler(),))
    checker = health.aio.HealthServicer()
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
