"""ListKernels: what runs on this agent now."""

from __future__ import annotations

from services.agent.domain.model import KernelHandle
from services.agent.service.kernels import AgentKernels


def list_kernels(kernels: AgentKernels) -> list[KernelHandle]:
    return sorted(kernels.backend.list(), key=lambda h: h.kernel_id)
