"""A kernel backend whose cluster kernels join the network prepared for them.

Kernels with a `cluster_hostname` are attached to their prepared namespace before the inner
backend starts them, and their network is released once they have ended (or failed to start);
other kernels pass through untouched and keep today's isolation (docs/kernel-isolation.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from services.agent.adapters.cluster_network import ClusterNetworks
from services.agent.domain import model as m
from services.agent.service.ports import KernelBackend


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

    async def execute(
        self, kernel_id: str, mode: m.ExecMode, code: str, timeout: float
    ) -> m.ExecResult:
        return await self.inner.execute(kernel_id, mode, code, timeout)

    async def images(self) -> Sequence[str]:
        return await self.inner.images()

    def list(self) -> list[m.KernelHandle]:
        return self.inner.list()

    async def wait_exit(self) -> m.KernelExit:
        ended = await self.inner.wait_exit()
        await self.networks.release(ended.kernel_id)
        return ended

    async def close(self) -> None:
        await self.inner.close()
        await self.networks.close()
