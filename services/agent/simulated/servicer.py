"""shipyard.agent.v1.KernelService for a whole fleet: the agent is picked by the address the
registry dialled (metadata x-shipyard-agent-address)."""

from __future__ import annotations

import grpc
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.agent.v1 import kernel_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2
from typing_extensions import override

from libs.core.errors import InvalidArgument
from libs.grpcutil.context import require_system
from services.agent.simulated.fleet import Fleet

AGENT_ADDRESS_METADATA = "x-shipyard-agent-address"


class FleetKernelServicer(pb_grpc.KernelServiceServicer):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    @override
    async def CreateKernels(
        self, request: pb.CreateKernelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateKernelsResponse:
        require_system()
        kernels = [(k.kernel_id, k.session_id) for k in request.kernels]
        await self._fleet.create(_address(context), kernels)
        return pb.CreateKernelsResponse(
            kernels=[pb.KernelInfo(kernel_id=k, session_id=s) for k, s in kernels]
        )

    @override
    async def DestroyKernel(
        self, request: pb.DestroyKernelRequest, context: grpc.aio.ServicerContext
    ) -> pb.DestroyKernelResponse:
        require_system()
        await self._fleet.destroy(
            _address(context), request.kernel_id, request.session_id, request.reason
        )
        return pb.DestroyKernelResponse()

    @override
    async def Execute(
        self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExecuteResponse:
        require_system()
        agent = self._fleet.agent_at(_address(context))
        if request.kernel_id not in agent.kernels:
            raise InvalidArgument(
                f"kernel {request.kernel_id} does not run on {agent.info.agent_id}"
            )
        # A simulated kernel runs nothing: every execution finishes at once, silently.
        return pb.ExecuteResponse(
            result=execution_pb2.ExecutionResult(
                status=execution_pb2.EXECUTION_STATUS_FINISHED, exit_code=0
            )
        )

    @override
    async def ListKernels(
        self, request: pb.ListKernelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListKernelsResponse:
        require_system()
        agent = self._fleet.agent_at(_address(context))
        return pb.ListKernelsResponse(
            kernels=[pb.KernelInfo(kernel_id=k, session_id=s) for k, s in agent.kernels.items()]
        )

    @override
    async def GetKernelLogs(
        self, request: pb.GetKernelLogsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetKernelLogsResponse:
        require_system()
        self._fleet.agent_at(_address(context))
        return pb.GetKernelLogsResponse(logs="")


def _address(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == AGENT_ADDRESS_METADATA:
            return value if isinstance(value, str) else value.decode()
    raise InvalidArgument(f"a simulated fleet needs the {AGENT_ADDRESS_METADATA} metadata")
