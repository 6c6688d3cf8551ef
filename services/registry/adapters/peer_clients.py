"""gRPC clients for the peers the registry calls: agents and storage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from shipyard.agent.v1 import execution_service_pb2 as live_pb
from shipyard.agent.v1 import execution_service_pb2_grpc as live_grpc
from shipyard.agent.v1 import kernel_app_service_pb2 as agent_app_pb
from shipyard.agent.v1 import kernel_app_service_pb2_grpc as agent_app_grpc
from shipyard.agent.v1 import kernel_service_pb2 as agent_pb
from shipyard.agent.v1 import kernel_service_pb2_grpc as agent_grpc
from shipyard.storage.v1 import vfolder_service_pb2 as storage_pb
from shipyard.storage.v1 import vfolder_service_pb2_grpc as storage_grpc
from shipyard.type.v1 import execution_pb2, resources_pb2

from libs.core.config import MtlsFiles
from libs.core.errors import Unavailable
from libs.grpcutil.client import internal_channel
from libs.grpcutil.status import error_from_rpc
from services.registry.adapters.channel_pool import ChannelPool
from services.registry.domain.errors import AgentUnavailable
from services.registry.domain.model import Display, ExecMode, ExecOutcome, ExecPoll, Mount
from services.registry.service.ports import KernelLaunch

RESTART_DEADLINE = 90.0  # the agent waits up to 60 s for the new runner

_MODES = {
    ExecMode.QUERY: execution_pb2.EXECUTION_MODE_QUERY,
    ExecMode.BATCH: execution_pb2.EXECUTION_MODE_BATCH,
    ExecMode.CONTINUE: execution_pb2.EXECUTION_MODE_CONTINUE,
    ExecMode.INPUT: execution_pb2.EXECUTION_MODE_INPUT,
}
_STATUSES = {
    execution_pb2.EXECUTION_STATUS_FINISHED: "finished",
    execution_pb2.EXECUTION_STATUS_FAILED: "failed",
    execution_pb2.EXECUTION_STATUS_TIMED_OUT: "timed_out",
    execution_pb2.EXECUTION_STATUS_CONTINUED: "continued",
    execution_pb2.EXECUTION_STATUS_WAITING_INPUT: "waiting_input",
}
# The address the registry dialled, as the agent registered it (see GrpcAgentClient._stub).
AGENT_ADDRESS_METADATA = "x-shipyard-agent-address"
CREATE_DEADLINE = 45.0
DESTROY_DEADLINE = 15.0
LOGS_DEADLINE = 15.0
APP_DEADLINE = 40.0  # an app may take a while to listen (the agent waits up to 20 s)


class GrpcAgentClient:
    """Channels per agent address, kept with keepalive pings (rule R-KEEPALIVE) and evicted
    when idle or beyond the pool's bound (adapters/channel_pool.py)."""

    def __init__(
        self,
        internal_token: str,
        *,
        max_channels: int = 512,
        idle_ttl: float = 600.0,
        mtls: MtlsFiles | None = None,
    ) -> None:
        self._token = internal_token
        self._pool = ChannelPool(
            lambda address: internal_channel(address, self._token, mtls),
            max_channels=max_channels,
            idle_ttl=idle_ttl,
        )

    def forget(self, address: str) -> None:
        """Drop the channel to an agent that is gone."""
        self._pool.forget(_target(address))

    async def create_kernels(self, address: str, kernels: Sequence[KernelLaunch]) -> None:
        request = agent_pb.CreateKernelsRequest(
            kernels=[
                agent_pb.KernelSpec(
                    kernel_id=k.kernel_id,
                    session_id=k.session_id,
                    image=k.image,
                    slots=resources_pb2.ResourceSlots(amounts=k.slots.to_strings()),
                    mounts=[
                        agent_pb.Mount(
                            host_path=m.host_path,
                            name=m.name,
                            read_only=m.read_only,
                            kernel_path=m.kernel_path,
                        )
                        for m in k.mounts
                    ],
                    environ=dict(k.environ),
                    startup_command=k.startup_command,
                    cluster_hostname=k.cluster_hostname,
                    cluster_hosts=[
                        agent_pb.ClusterHost(hostname=name, address=address)
                        for name, address in k.cluster_hosts
                    ],
                )
                for k in kernels
            ]
        )
        await self._call(address, "CreateKernels", request, CREATE_DEADLINE)

    async def prepare_cluster_network(
        self, address: str, session_id: str, kernels: Sequence[tuple[str, str]]
    ) -> Mapping[str, str]:
        request = agent_pb.PrepareClusterNetworkRequest(
            session_id=session_id,
            kernels=[agent_pb.ClusterKernel(kernel_id=k, hostname=h) for k, h in kernels],
        )
        response = await self._call(address, "PrepareClusterNetwork", request, DESTROY_DEADLINE)
        return {h.hostname: h.address for h in response.hosts}

    async def destroy_kernel(
        self, address: str, kernel_id: str, session_id: str, reason: str
    ) -> None:
        request = agent_pb.DestroyKernelRequest(
            kernel_id=kernel_id, session_id=session_id, reason=reason
        )
        await self._call(address, "DestroyKernel", request, DESTROY_DEADLINE)

    async def restart_kernel(self, address: str, kernel_id: str) -> None:
        request = agent_pb.RestartKernelRequest(kernel_id=kernel_id)
        await self._call(address, "RestartKernel", request, RESTART_DEADLINE)

    async def execute(
        self,
        address: str,
        kernel_id: str,
        mode: ExecMode,
        code: str,
        timeout: float,
        poll: ExecPoll | None = None,
    ) -> ExecOutcome:
        duration = Duration()
        duration.FromNanoseconds(int(timeout * 1e9))
        request = agent_pb.ExecuteRequest(
            kernel_id=kernel_id, mode=_MODES[mode], code=code, timeout=duration
        )
        deadline = timeout + 20.0
        if poll is not None:
            request.run_id = poll.run_id
            request.flush_timeout.FromNanoseconds(int(poll.flush_timeout * 1e9))
            deadline = (poll.flush_timeout or 2.0) + 20.0
        response = await self._call(address, "Execute", request, deadline)
        r = response.result
        return ExecOutcome(
            status=_STATUSES.get(r.status, "failed"),
            stdout=r.stdout,
            stderr=r.stderr,
            exit_code=r.exit_code,
            error_name=r.error_name,
            error_message=r.error_message,
            displays=tuple(Display(dict(d.data), d.result) for d in r.displays),
            truncated=r.truncated,
            run_id=r.run_id,
            prompt=r.input_request.prompt if r.HasField("input_request") else None,
            password=r.input_request.password,
        )

    async def stream_execute(
        self,
        address: str,
        kernel_id: str,
        commands: AsyncIterator[execution_pb2.ExecutionCommand],
    ) -> AsyncIterator[execution_pb2.ExecutionEvent]:
        """Relay a live execution to the kernel's agent: commands out, events back."""

        async def requests() -> AsyncIterator[live_pb.StreamExecuteRequest]:
            yield live_pb.StreamExecuteRequest(kernel_id=kernel_id)
            async for command in commands:
                yield live_pb.StreamExecuteRequest(command=command)

        metadata = ((AGENT_ADDRESS_METADATA, address),)
        try:
            async with self._pool.use(_target(address)) as channel:
                stub = live_grpc.KernelExecutionServiceStub(channel)
                async for response in stub.StreamExecute(requests(), metadata=metadata):
                    yield response.event
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc

    async def interrupt(self, address: str, kernel_id: str) -> None:
        metadata = ((AGENT_ADDRESS_METADATA, address),)
        request = live_pb.InterruptExecutionRequest(kernel_id=kernel_id)
        try:
            async with self._pool.use(_target(address)) as channel:
                stub = live_grpc.KernelExecutionServiceStub(channel)
                await stub.InterruptExecution(request, timeout=LOGS_DEADLINE, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc

    async def kernel_logs(self, address: str, kernel_id: str, tail: int) -> str:
        request = agent_pb.GetKernelLogsRequest(kernel_id=kernel_id, tail_lines=tail)
        response = await self._call(address, "GetKernelLogs", request, LOGS_DEADLINE)
        return str(response.logs)

    async def start_app(
        self, address: str, kernel_id: str, session_id: str, app: str, port: int
    ) -> str:
        request = agent_app_pb.StartKernelAppRequest(
            kernel_id=kernel_id, session_id=session_id, app=app, port=port
        )
        response = await self._call(
            address, "StartKernelApp", request, APP_DEADLINE, agent_app_grpc.KernelAppServiceStub
        )
        return str(response.address)

    async def _call(
        self,
        address: str,
        method: str,
        request: Any,
        deadline: float,
        stub_class: Any = agent_grpc.KernelServiceStub,
    ) -> Any:
        # The full address travels with each call: it picks the agent when many share a
        # server (docs/simulated-agents.md).
        metadata = ((AGENT_ADDRESS_METADATA, address),)
        try:
            async with self._pool.use(_target(address)) as channel:
                stub = stub_class(channel)
                return await getattr(stub, method)(request, timeout=deadline, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc

    async def close(self) -> None:
        await self._pool.close()


class GrpcMountResolver:
    def __init__(
        self, storage_addr: str, internal_token: str, mtls: MtlsFiles | None = None
    ) -> None:
        self._channel = internal_channel(storage_addr, internal_token, mtls)
        self._stub = storage_grpc.MountServiceStub(self._channel)

    async def resolve(
        self, user_id: str, names: Sequence[str], project_id: str = "", *, specs: Sequence[str] = ()
    ) -> list[Mount]:
        request = storage_pb.ResolveMountsRequest(
            user_id=user_id, names=list(names), project_id=project_id, mount_specs=list(specs)
        )
        try:
            response = await self._stub.ResolveMounts(request, timeout=10.0)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise Unavailable("storage service is unavailable") from exc
            raise error_from_rpc(exc) from exc
        return [
            Mount(
                vfolder_id=m.vfolder_id,
                name=m.name,
                host_path=m.host_path,
                read_only=m.read_only,
                kernel_path=m.kernel_path,
            )
            for m in response.mounts
        ]

    async def close(self) -> None:
        await self._channel.close()


def _error(exc: grpc.aio.AioRpcError) -> Exception:
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return AgentUnavailable(f"agent call failed: {exc.code().name}: {exc.details()}")
    return error_from_rpc(exc)


def _target(address: str) -> str:
    """ "host:port#name" (many agents behind one server) shares the channel of host:port."""
    return address.partition("#")[0]
