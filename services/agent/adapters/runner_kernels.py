"""What both kernel backends do the same way once a kernel's runner is up: reach its runner for
live executions, interrupts, terminals and apps. A backend mixes this in and keeps its running
kernels in `self._kernels` (kernel id -> an entry with the runner `client` and an `exited` flag).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from services.agent.adapters.kernel_execute import not_running
from services.agent.adapters.runner_client import RunnerClient
from services.agent.adapters.runner_session import RunnerSession
from services.agent.adapters.runner_terminal import RunnerTerminal


class RunnerEntry(Protocol):
    @property
    def client(self) -> RunnerClient: ...

    @property
    def exited(self) -> asyncio.Event: ...


class RunnerKernels:
    _kernels: Mapping[str, RunnerEntry]

    def runner(self, kernel_id: str) -> RunnerClient:
        """The runner of a running kernel (live executions, terminals and apps go through it)."""
        kernel = self._kernels.get(kernel_id)
        if kernel is None or kernel.exited.is_set():
            raise not_running(kernel_id)
        return kernel.client

    async def open_live(self, kernel_id: str) -> RunnerSession:
        return await self.runner(kernel_id).open_session()

    async def restart(self, kernel_id: str) -> None:
        """Restart the kernel's runner in place: its Jupyter kernel, commands and apps end, a
        fresh runner starts in the same sandbox or container (same work dir, mounts, env)."""
        kernel = self._kernels.get(kernel_id)
        client = self.runner(kernel_id)
        await client.restart(
            within=60.0, alive=lambda: kernel is not None and not kernel.exited.is_set()
        )

    async def interrupt(self, kernel_id: str) -> None:
        await self.runner(kernel_id).interrupt()

    async def open_terminal(self, kernel_id: str, rows: int, cols: int) -> RunnerTerminal:
        return await self.runner(kernel_id).open_terminal(rows, cols)
