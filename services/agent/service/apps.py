"""StartKernelApp: run an app (service port) in one of this agent's kernels and expose it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from services.agent.domain.apps import AppDef, resolve_app
from services.agent.domain.model import KernelNotFound
from services.agent.service.kernels import AgentKernels


class AppExposer(Protocol):
    async def open(self, kernel_id: str, session_id: str, app: AppDef) -> str:
        """Start the app in the kernel (unless it runs); the host:port that reaches it."""
        ...


class StartKernelApp:
    def __init__(
        self, kernels: AgentKernels, exposer: AppExposer, catalog: Mapping[str, AppDef]
    ) -> None:
        self._k = kernels
        self._exposer = exposer
        self._catalog = catalog

    async def __call__(self, kernel_id: str, session_id: str, name: str, port: int) -> str:
        if self._k.find(kernel_id) is None:
            raise KernelNotFound(
                f"kernel {kernel_id} does not run on this agent", metadata={"kernel_id": kernel_id}
            )
        return await self._exposer.open(
            kernel_id, session_id, resolve_app(self._catalog, name, port)
        )
