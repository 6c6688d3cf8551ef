"""A stand-in for the agents behind the registry's `AgentClient` port: every call fails loudly
unless a test's subclass answers it, so a test shows exactly which agent calls it expects."""

from __future__ import annotations

from collections.abc import Sequence

from services.registry.domain.model import ExecMode, ExecOutcome, ExecPoll
from services.registry.service.ports import KernelLaunch


class UnusedAgents:
    async def create_kernels(self, address: str, kernels: Sequence[KernelLaunch]) -> None:
        raise NotImplementedError("this test expects no kernel creation")

    async def destroy_kernel(
        self, address: str, kernel_id: str, session_id: str, reason: str
    ) -> None:
        raise NotImplementedError("this test expects no kernel to be destroyed")

    async def execute(
        self,
        address: str,
        kernel_id: str,
        mode: ExecMode,
        code: str,
        timeout: float,
        poll: ExecPoll | None = None,
    ) -> ExecOutcome:
        raise NotImplementedError("this test expects no execution")

    async def restart_kernel(self, address: str, kernel_id: str) -> None:
        raise NotImplementedError("this test expects no restart")

    async def kernel_logs(self, address: str, kernel_id: str, tail: int) -> str:
        raise NotImplementedError("this test expects no log read")
