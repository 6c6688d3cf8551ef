"""Execute: run code in one of this agent's kernels."""

from __future__ import annotations

from services.agent.domain.model import ExecMode, ExecResult, KernelNotFound
from services.agent.service.kernels import AgentKernels


class ExecuteCode:
    def __init__(self, kernels: AgentKernels, *, default_timeout: float = 0.0) -> None:
        self._k = kernels
        self._default_timeout = default_timeout

    async def __call__(
        self, kernel_id: str, mode: ExecMode, code: str, time_limit: float | None = None
    ) -> ExecResult:
        """`time_limit` in seconds; None or 0 falls back to the agent's default (0: no limit)."""
        if self._k.find(kernel_id) is None:
            raise KernelNotFound(
                f"kernel {kernel_id} does not run on this agent", metadata={"kernel_id": kernel_id}
            )
        effective = time_limit or self._default_timeout
        return await self._k.backend.execute(kernel_id, mode, code, effective)
