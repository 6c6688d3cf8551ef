"""AgentRegistryService (internal) and ClusterService (admins)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from shipyard.registry.v1 import agent_registry_service_pb2 as reg_pb
from shipyard.registry.v1 import agent_registry_service_pb2_grpc as reg_grpc
from shipyard.registry.v1 import cluster_service_pb2 as cluster_pb
from shipyard.registry.v1 import cluster_service_pb2_grpc as cluster_grpc
from typing_extensions import override

from libs.core.slots import ResourceSlots
from libs.grpcutil.context import require_system
from libs.grpcutil.tls import peer_name
from services.registry.api import convert
from services.registry.api.stats_convert import kernel_stats_of
from services.registry.domain.agent_auth import AgentAuth
from services.registry.domain.image_ref import normalize_arch
from services.registry.service.agents import AgentLifecycle
from services.registry.service.ports import AgentRegistration


class AgentRegistryServicer(reg_grpc.AgentRegistryServiceServicer):
    def __init__(self, agents: AgentLifecycle, heartbeat_interval: float, auth: AgentAuth) -> None:
        self._agents = agents
        self._interval = heartbeat_interval
        self._auth = auth

    @override
    async def RegisterAgent(
        self, request: reg_pb.RegisterAgentRequest, context: grpc.aio.ServicerContext
    ) -> reg_pb.RegisterAgentResponse:
        require_system()
        self._auth.check_certificate(request.agent_id, peer_name(context))
        to_destroy = await self._agents.register(
            AgentRegistration(
                agent_id=request.agent_id,
                address=request.address,
                resource_group=request.resource_group,
                available_slots=ResourceSlots.parse(
                    request.available_slots.amounts, field="available_slots"
                ),
                backend=request.backend,
                live_kernel_ids=tuple(request.live_kernel_ids),
                architecture=normalize_arch(request.architecture),
                images=tuple(request.images),
            )
        )
        response = reg_pb.RegisterAgentResponse(
            kernels_to_destroy=to_destroy, agent_secret=self._auth.secret_for(request.agent_id)
        )
        response.heartbeat_interval.FromNanoseconds(int(self._interval * 1e9))
        return response

    @override
    async def Heartbeat(
        self, request: reg_pb.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> reg_pb.HeartbeatResponse:
        require_system()
        self._auth.check_certificate(request.agent_id, peer_name(context))
        self._auth.check_rpc("Heartbeat", request.agent_id, request.agent_proof)
        health = None
        if request.HasField("health"):
            health = (request.health.healthy, request.health.reason)
        now = datetime.now(UTC)
        stats = [kernel_stats_of(s, request.agent_id, now) for s in request.kernel_stats]
        known = await self._agents.heartbeat(
            request.agent_id, list(request.images), health, stats=stats
        )
        return reg_pb.HeartbeatResponse(reregister=not known)

    @override
    async def HeartbeatBatch(
        self, request: reg_pb.HeartbeatBatchRequest, context: grpc.aio.ServicerContext
    ) -> reg_pb.HeartbeatBatchResponse:
        require_system()
        for h in request.heartbeats:  # every agent of the batch proves who it is
            self._auth.check_certificate(h.agent_id, peer_name(context))
            self._auth.check_rpc("Heartbeat", h.agent_id, h.agent_proof)
        beats = {h.agent_id: list(h.images) for h in request.heartbeats}
        return reg_pb.HeartbeatBatchResponse(reregister=await self._agents.heartbeat_many(beats))

    @override
    async def DrainAgent(
        self, request: reg_pb.DrainAgentRequest, context: grpc.aio.ServicerContext
    ) -> reg_pb.DrainAgentResponse:
        require_system()
        self._auth.check_certificate(request.agent_id, peer_name(context))
        self._auth.check_rpc("DrainAgent", request.agent_id, request.agent_proof)
        await self._agents.drain(request.agent_id, request.reason)
        return reg_pb.DrainAgentResponse()


class ClusterServicer(cluster_grpc.ClusterServiceServicer):
    def __init__(self, agents: AgentLifecycle) -> None:
        self._agents = agents

    @override
    async def ListAgents(
        self, request: cluster_pb.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb.ListAgentsResponse:
        # Admins, superadmins and monitors: the interceptor enforces the access table.
        agents = await self._agents.list_agents()
        return cluster_pb.ListAgentsResponse(agents=[convert.agent_pb(a) for a in agents])
