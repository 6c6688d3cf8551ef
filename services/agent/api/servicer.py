"""shipyard.agent.v1.KernelService: decode, require a Shipyard caller, run the use case."""

from __future__ import annotations

import grpc
from shipyard.agent.v1 import kernel_app_service_pb2 as app_pb
from shipyard.agent.v1 import kernel_app_service_pb2_grpc as app_pb_grpc
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.agent.v1 import kernel_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import require_system
from services.agent.api import convert
from services.agent.service.apps import StartKernelApp
from services.agent.service.cluster_network import PrepareClusterNetwork
from services.agent.service.create_kernels import CreateKernels
from services.agent.service.destroy_kernel import DestroyKernel
from services.agent.service.execute import ExecuteCode
from services.agent.service.kernel_logs import GetKernelLogs
from services.agent.service.kernels import AgentKernels
from services.agent.service.list_kernels import list_kernels
from services.agent.service.polled_runs import PolledRuns
from services.agent.service.restart_kernel import RestartKernel

SERVICE_NAME = "shipyard.agent.v1.KernelService"


class KernelServicer(pb_grpc.KernelServiceServicer):
    def __init__(
        self,
        kernels: AgentKernels,
        *,
        create: CreateKernels,
        destroy: DestroyKernel,
        execute: ExecuteCode,
        logs: GetKernelLogs,
        networks: PrepareClusterNetwork | None = None,
        runs: PolledRuns | None = None,
        restart: RestartKernel | None = None,
    ) -> None:
        self._kernels = kernels
        self._create = create
        self._destroy = destroy
        self._execute = execute
        self._logs = logs
        self._networks = networks or PrepareClusterNetwork(None, kernels.backend.name)
        self._runs = runs
        self._restart = restart or RestartKernel(kernels)

    @override
    async def CreateKernels(
        self, request: pb.CreateKernelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateKernelsResponse:
        require_system()
        specs = [convert.spec_from_pb(s, f"kernels[{i}]") for i, s in enumerate(request.kernels)]
        handles = await self._create(specs)
        return pb.CreateKernelsResponse(kernels=[convert.kernel_info(h) for h in handles])

    @override
    async def DestroyKernel(
        self, request: pb.DestroyKernelRequest, context: grpc.aio.ServicerContext
    ) -> pb.DestroyKernelResponse:
        require_system()
        await self._destroy(request.kernel_id, request.session_id, request.reason)
        return pb.DestroyKernelResponse()

    @override
    async def RestartKernel(
        self, request: pb.RestartKernelRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestartKernelResponse:
        require_system()
        handle = await self._restart(request.kernel_id)
        return pb.RestartKernelResponse(kernel=convert.kernel_info(handle))

    @override
    async def Execute(
        self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExecuteResponse:
        require_system()
        timeout = convert.seconds(request.timeout) if request.HasField("timeout") else None
        polled = request.HasField("flush_timeout") or request.mode in convert.POLL_MODES
        if polled and self._runs is not None:
            result = await convert.poll(self._runs, request, timeout or 0.0)
        else:
            mode = convert.mode_from_pb(request.mode)
            convert.require_code(request.code)
            result = await self._execute(request.kernel_id, mode, request.code, timeout)
        return pb.ExecuteResponse(result=convert.result_to_pb(result))

    @override
    async def ListKernels(
        self, request: pb.ListKernelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListKernelsResponse:
        require_system()
        handles = list_kernels(self._kernels)
        return pb.ListKernelsResponse(kernels=[convert.kernel_info(h) for h in handles])

    @override
    async def GetKernelLogs(
        self, request: pb.GetKernelLogsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetKernelLogsResponse:
        require_system()
        return pb.GetKernelLogsResponse(
            logs=await self._logs(request.kernel_id, request.tail_lines)
        )

    @override
    async def PrepareClusterNetwork(
        self, request: pb.PrepareClusterNetworkRequest, context: grpc.aio.ServicerContext
    ) -> pb.PrepareClusterNetworkResponse:
        require_system()
        kernels = [(k.kernel_id, k.hostname) for k in request.kernels]
        hosts = await self._networks(request.session_id, kernels)
        return pb.PrepareClusterNetworkResponse(
            hosts=[pb.ClusterHost(hostname=name, address=address) for name, address in hosts]
        )


APP_SERVICE_NAME = "shipyard.agent.v1.KernelAppService"


class KernelAppServicer(app_pb_grpc.KernelAppServiceServicer):
    def __init__(self, start: StartKernelApp) -> None:
        self._start = start

    @override
    async def StartKernelApp(
        self, request: app_pb.StartKernelAppRequest, context: grpc.aio.ServicerContext
    ) -> app_pb.StartKernelAppResponse:
        require_system()
        address = await self._start(
            request.kernel_id, request.session_id, request.app, request.port
        )
        return app_pb.StartKernelAppResponse(address=address)
