"""AgentRegistry over shipyard.registry.v1.AgentRegistryService."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from shipyard.registry.v1 import agent_registry_service_pb2 as pb
from shipyard.registry.v1 import agent_registry_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import kernel_stats_pb2 as stats_pb2
from shipyard.type.v1 import resources_pb2

from libs.core.agent_credentials import rpc_fields, sign
from libs.core.slots import CPU, MEM, ResourceSlots
from libs.grpcutil.status import error_from_rpc
from services.agent.domain.model import KernelUsage
from services.agent.service.outbound import AgentHealth, AgentInfo, Registration

log = logging.getLogger(__name__)

# After these the channel is replaced: a fresh one dials at once instead of waiting out gRPC's
# reconnect backoff (up to 2 minutes), and no half-dead connection is kept (rule R-KEEPALIVE).
_RECONNECT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _slots(info: AgentInfo) -> resources_pb2.ResourceSlots:
    amounts = ResourceSlots(
        {**info.accelerator_slots, CPU: info.cpu, MEM: info.mem_bytes}
    ).to_strings()
    return resources_pb2.ResourceSlots(amounts=amounts)


class AgentCredential:
    """The secret the registry issued at registration (docs/access.md, "Agent credentials"),
    shared by the registry client (RPC proofs) and the event publisher (event signatures)."""

    def __init__(self) -> None:
        self.secret = ""

    def set(self, secret: str) -> None:
        """Record the secret of a registration (empty from a registry that issues none)."""
        self.secret = secret

    def sign(self, fields: Sequence[str]) -> str:
        return sign(self.secret, fields) if self.secret else ""


class GrpcAgentRegistry:
    """The AgentRegistry port. `connect` makes a channel (internal_channel: token, keepalive)."""

    def __init__(
        self,
        connect: Callable[[], grpc.aio.Channel],
        *,
        timeout: float = 10.0,
        credential: AgentCredential | None = None,
    ) -> None:
        self._connect = connect
        self._channel = connect()
        self._stub = pb_grpc.AgentRegistryServiceStub(self._channel)
        self._timeout = timeout
        self.credential = credential or AgentCredential()

    async def register(
        self, info: AgentInfo, live_kernel_ids: Sequence[str], images: Sequence[str] = ()
    ) -> Registration:
        request = pb.RegisterAgentRequest(
            agent_id=info.agent_id,
            address=info.address,
            resource_group=info.resource_group,
            available_slots=_slots(info),
            live_kernel_ids=list(live_kernel_ids),
            backend=info.backend,
            architecture=info.architecture,
            images=list(images),
        )
        response: pb.RegisterAgentResponse = await self._call(self._stub.RegisterAgent, request)
        self.credential.set(response.agent_secret)
        interval = None
        if response.HasField("heartbeat_interval"):
            interval = response.heartbeat_interval.ToTimedelta().total_seconds() or None
        return Registration(
            kernels_to_destroy=tuple(response.kernels_to_destroy),
            heartbeat_interval=interval,
            agent_secret=response.agent_secret,
        )

    async def heartbeat(
        self,
        info: AgentInfo,
        live_kernel_ids: Sequence[str],
        images: Sequence[str] = (),
        health: AgentHealth | None = None,
        stats: Sequence[KernelUsage] = (),
    ) -> bool:
        health = health or AgentHealth()
        request = pb.HeartbeatRequest(
            agent_id=info.agent_id,
            available_slots=_slots(info),
            live_kernel_ids=list(live_kernel_ids),
            images=list(images),
            health=pb.AgentHealth(healthy=health.healthy, reason=health.reason[:512]),
            agent_proof=self.credential.sign(rpc_fields("Heartbeat", info.agent_id)),
            kernel_stats=[_stats_pb(u) for u in stats],
        )
        response: pb.HeartbeatResponse = await self._call(self._stub.Heartbeat, request)
        return response.reregister

    async def drain(self, agent_id: str, reason: str) -> None:
        """Leave scheduling (e.g. on SIGTERM); kernels keep running."""
        request = pb.DrainAgentRequest(
            agent_id=agent_id,
            reason=reason[:256],
            agent_proof=self.credential.sign(rpc_fields("DrainAgent", agent_id)),
        )
        await self._call(self._stub.DrainAgent, request)

    async def heartbeat_batch(
        self,
        beats: Sequence[tuple[AgentInfo, Sequence[str], AgentCredential]],
        images: Sequence[str],
    ) -> list[str]:
        """Many agents' heartbeats in one call (all with `images`), each signed with its own
        agent's credential; the ids the registry wants registered again."""
        request = pb.HeartbeatBatchRequest(
            heartbeats=[
                pb.HeartbeatRequest(
                    agent_id=info.agent_id,
                    available_slots=_slots(info),
                    live_kernel_ids=list(live),
                    images=list(images),
                    agent_proof=credential.sign(rpc_fields("Heartbeat", info.agent_id)),
                )
                for info, live, credential in beats
            ]
        )
        response: pb.HeartbeatBatchResponse = await self._call(self._stub.HeartbeatBatch, request)
        return list(response.reregister)

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _RECONNECT_CODES:
                await self._reconnect()
            raise error_from_rpc(exc) from exc

    async def _reconnect(self) -> None:
        old, self._channel = self._channel, self._connect()
        self._stub = pb_grpc.AgentRegistryServiceStub(self._channel)
        try:
            await old.close()
        except Exception:
            log.debug("closing the old registry channel failed", exc_info=True)


def _stats_pb(usage: KernelUsage) -> stats_pb2.KernelStats:
    msg = stats_pb2.KernelStats(
        kernel_id=usage.kernel_id,
        cpu_seconds=usage.cpu_seconds,
        mem_bytes=usage.mem_bytes,
        io_read_bytes=usage.io_read_bytes,
        io_write_bytes=usage.io_write_bytes,
        accelerator_util=dict(usage.accelerator_util),
    )
    msg.collect_time.GetCurrentTime()
    return msg
