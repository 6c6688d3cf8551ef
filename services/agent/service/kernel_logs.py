"""GetKernelLogs: a kernel's console output, from backends that keep it."""

from __future__ import annotations

from libs.core.errors import FailedPrecondition
from services.agent.service.kernels import AgentKernels
from services.agent.service.ports import KernelLogSource

LOGS_NOT_KEPT = "KERNEL_LOGS_NOT_KEPT"


class GetKernelLogs:
    def __init__(self, kernels: AgentKernels) -> None:
        self._k = kernels

    async def __call__(self, kernel_id: str, tail: int = 0) -> str:
        backend = self._k.backend
        if not isinstance(backend, KernelLogSource):
            raise FailedPrecondition(
                f"the {backend.name} backend keeps no kernel logs",
                reason=LOGS_NOT_KEPT,
                metadata={"kernel_id": kernel_id},
            )
        return await backend.logs(kernel_id, tail)
