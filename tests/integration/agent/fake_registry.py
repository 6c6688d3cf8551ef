"""An in-process AgentRegistryService that records what agents tell it."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration
from shipyard.registry.v1 import agent_registry_service_pb2 as pb
from shipyard.registry.v1 import agent_registry_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import require_system
from libs.grpcutil.server import GrpcServer, Registration, create_server


class FakeAgentRegistry(pb_grpc.AgentRegistryServiceServicer):
    def __init__(self, heartbeat_interval: float = 0.2) -> None:
        self.registrations: list[pb.RegisterAgentRequest] = []
        self.heartbeats: list[pb.HeartbeatRequest] = []
        self.to_destroy: list[str] = []  # answered (once) by the next registration
        self.reregister = False  # answered (once) by the next heartbeat
        self.drains: list[pb.DrainAgentRequest] = []
        self._interval = heartbeat_interval

    @override
    async def RegisterAgent(
        self, request: pb.RegisterAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterAgentResponse:
        require_system()
        self.registrations.append(request)
        to_destroy, self.to_destroy = self.to_destroy, []
        interval = Duration()
        interval.FromMilliseconds(int(self._interval * 1000))
        return pb.RegisterAgentResponse(kernels_to_destroy=to_destroy, heartbeat_interval=interval)

    @override
    async def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> pb.HeartbeatResponse:
        require_system()
        self.heartbeats.append(request)
        reregister, self.reregister = self.reregister, False
        return pb.HeartbeatResponse(reregister=reregister)

    @override
    async def DrainAgent(
        self, request: pb.DrainAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.DrainAgentResponse:
        require_system()
        self.drains.append(request)
        return pb.DrainAgentResponse()


async def start_fake_registry(
    servicer: FakeAgentRegistry, internal_token: str, bind: str = "127.0.0.1:0"
) -> GrpcServer:
    server = create_server(
        domain="registry.shipyard",
        internal_token=internal_token,
        bind=bind,
        services=[
            Registration(
                pb_grpc.add_AgentRegistryServiceServicer_to_server,
                servicer,
                "shipyard.registry.v1.AgentRegistryService",
            )
        ],
    )
    await server.start()
    return server
