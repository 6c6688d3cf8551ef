"""Live execution: a session with a kernel's runner that streams a cell's events as they come."""

from __future__ import annotations

from services.agent.domain.model import KernelNotFound, KernelUnavailable
from services.agent.service.kernels import AgentKernels
from services.agent.service.ports import LiveChannel, LiveKernels


class LiveExecute:
    def __init__(self, kernels: AgentKernels) -> None:
        self._k = kernels

    async def open(self, kernel_id: str) -> LiveChannel:
        return await self._backend(kernel_id).open_live(kernel_id)

    async def interrupt(self, kernel_id: str) -> None:
        await self._backend(kernel_id).interrupt(kernel_id)

    def _backend(self, kernel_id: str) -> LiveKernels:
        if self._k.find(kernel_id) is None:
            raise KernelNotFound(
                f"kernel {kernel_id} does not run on this agent", metadata={"kernel_id": kernel_id}
            )
        backend = self._k.backend
        if not isinstance(backend, LiveKernels):
            raise KernelUnavailable(f"the {backend.name} backend cannot run code live")
        return backend
