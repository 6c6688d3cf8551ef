"""RestartKernel: a kernel's runner starts afresh in its sandbox or container."""

from __future__ import annotations

from services.agent.domain.model import KernelHandle, KernelNotFound, KernelUnavailable
from services.agent.service.kernels import AgentKernels
from services.agent.service.ports import RestartableKernels


class RestartKernel:
    def __init__(self, kernels: AgentKernels) -> None:
        self._k = kernels

    async def __call__(self, kernel_id: str) -> KernelHandle:
        handle = self._k.find(kernel_id)
        if handle is None:
            raise KernelNotFound(
                f"kernel {kernel_id} does not run on this agent", metadata={"kernel_id": kernel_id}
            )
        backend = self._k.backend
        if not isinstance(backend, RestartableKernels):
            raise KernelUnavailable(f"the {backend.name} backend cannot restart kernels")
        await backend.restart(kernel_id)
        return handle
