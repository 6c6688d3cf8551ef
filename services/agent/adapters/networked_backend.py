"""A kernel backend whose cluster kernels join the network prepared for them (either backend).

Kernels with a `cluster_hostname` are attached to their prepared namespace before the inner
backend starts them, and their network is released once they have ended (or failed to start);
other kernels pass through untouched and keep today's isolation (docs/kernel-isolation.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from services.agent.adapters.cluster_network import ClusterNetworks
from services.agent.domain import model as m
from services.agent.service.ports import (
    KernelBackend,
    KernelLogSource,
    KernelStatsSource,
    LiveChannel,
    LiveKernels,
    PrestartedKernels,
    RestartableKernels,
    Terminal,
)
from services.agent.service.terminal import terminal_source


class LoggingBackend(KernelBackend, KernelLogSource, Protocol):
    """A backend that also keeps its kernels' logs."""


class NetworkedBackend:
    def __init__(self, inner: KernelBackend, networks: ClusterNetworks) -> None:
        self.inner = inner
        self.networks = networks
        self.name = inner.name

    async def create(self, spec: m.KernelSpec) -> m.KernelHandle:
        if not spec.cluster_hostname:
            return await self.inner.create(spec)
        network = await self.networks.attach(spec)
        try:
            return await self.inner.create(dataclasses.replace(spec, network=network))
        except BaseException:
            await self.networks.release(spec.kernel_id)
            raise

    async def destroy(self, kernel_id: str, reason: str) -> None:
        await self.inner.destroy(kernel_id, reason)

    def hands_out(self, spec: m.KernelSpec) -> bool:
        # A cluster kernel awaits its network first, and no pre-started kernel stands for it.
        inner = self.inner
        return (
            not spec.cluster_hostname
            and isinstance(inner, PrestartedKernels)
            and inner.hands_out(spec)
        )

    async def execute(
        self, kernel_id: str, mode: m.ExecMode, code: str, timeout: float
    ) -> m.ExecResult:
        return await self.inner.execute(kernel_id, mode, code, timeout)

    async def probe(self) -> str | None:
        return await self.inner.probe()

    async def open_live(self, kernel_id: str) -> LiveChannel:
        return await self._live().open_live(kernel_id)

    async def interrupt(self, kernel_id: str) -> None:
        await self._live().interrupt(kernel_id)

    async def restart(self, kernel_id: str) -> None:
        if not isinstance(self.inner, RestartableKernels):
            raise m.KernelUnavailable(f"the {self.name} backend cannot restart kernels")
        await self.inner.restart(kernel_id)

    def _live(self) -> LiveKernels:
        if not isinstance(self.inner, LiveKernels):
            raise m.KernelUnavailable(f"the {self.name} backend cannot run code live")
        return self.inner

    async def images(self) -> Sequence[str]:
        return await self.inner.images()

    def list(self) -> list[m.KernelHandle]:
        return self.inner.list()

    async def kernel_stats(self) -> Sequence[m.KernelUsage]:
        if isinstance(self.inner, KernelStatsSource):
            return await self.inner.kernel_stats()
        return []

    async def wait_exit(self) -> m.KernelExit:
        ended = await self.inner.wait_exit()
        await self.networks.release(ended.kernel_id)
        return ended

    async def open_terminal(self, kernel_id: str, rows: int, cols: int) -> Terminal:
        return await terminal_source(self.inner).open_terminal(kernel_id, rows, cols)

    async def close(self) -> None:
        await self.inner.close()
        await self.networks.close()


class NetworkedLoggingBackend(NetworkedBackend):
    """The same, for a backend that keeps its kernels' logs (the container backend)."""

    def __init__(self, inner: LoggingBackend, networks: ClusterNetworks) -> None:
        super().__init__(inner, networks)
        self._logs = inner

    async def logs(self, kernel_id: str, tail: int = 0) -> str:
        return await self._logs.logs(kernel_id, tail)
