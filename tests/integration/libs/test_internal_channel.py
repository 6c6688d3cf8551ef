"""Service-to-service channels carry the internal token on unary and streaming calls alike."""

from __future__ import annotations

from shipyard.registry.v1 import scheduling_service_pb2 as pb
from shipyard.registry.v1 import scheduling_service_pb2_grpc as pb_grpc

from libs.grpcutil.client import internal_channel
from libs.grpcutil.context import current_caller
from libs.grpcutil.server import Registration, create_server


class Servicer(pb_grpc.SchedulingServiceServicer):
    async def WatchClusterState(self, request, context):
        yield pb.WatchClusterStateResponse(session_removed=f"system={current_caller().system}")

    async def BindSessions(self, request, context):
        return pb.BindSessionsResponse(
            results=[pb.BindResult(session_id=f"system={current_caller().system}")]
        )


async def test_unary_and_streaming_calls_are_system_calls() -> None:
    server = create_server(
        domain="t",
        internal_token="tok",
        bind="127.0.0.1:0",
        services=[
            Registration(
                pb_grpc.add_SchedulingServiceServicer_to_server,
                Servicer(),
                "shipyard.registry.v1.SchedulingService",
            )
        ],
    )
    await server.start()
    try:
        async with internal_channel(f"127.0.0.1:{server.port}", "tok") as channel:
            stub = pb_grpc.SchedulingServiceStub(channel)
            bound = await stub.BindSessions(pb.BindSessionsRequest())
            streamed = [r async for r in stub.WatchClusterState(pb.WatchClusterStateRequest())]
        assert bound.results[0].session_id == "system=True"
        assert streamed[0].session_removed == "system=True"
    finally:
        await server.stop(0)
