"""Files beneath the work directory of one of this agent's kernels (list, read, write)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.agent.domain.files import FilePage, FilePiece
from services.agent.domain.model import KernelNotFound
from services.agent.service.kernels import AgentKernels

MAX_PAGE = 1000


class KernelFiles(Protocol):
    """What the kernel's runner does (paths relative to the work directory, never escaping it)."""

    async def list(self, kernel_id: str, path: str, offset: int, limit: int) -> FilePage: ...

    async def read(self, kernel_id: str, path: str, offset: int, length: int) -> FilePiece: ...

    async def write(
        self, kernel_id: str, path: str, offset: int, data: bytes, *, truncate: bool
    ) -> int:
        """The file's size afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class KernelFileAccess:
    kernels: AgentKernels
    files: KernelFiles

    def _known(self, kernel_id: str) -> None:
        if self.kernels.find(kernel_id) is None:
            raise KernelNotFound(
                f"kernel {kernel_id} does not run on this agent", metadata={"kernel_id": kernel_id}
            )

    async def list(self, kernel_id: str, path: str, offset: int, limit: int) -> FilePage:
        self._known(kernel_id)
        return await self.files.list(kernel_id, path, offset, min(limit or MAX_PAGE, MAX_PAGE))

    async def read(self, kernel_id: str, path: str, offset: int, length: int) -> FilePiece:
        self._known(kernel_id)
        return await self.files.read(kernel_id, path, offset, length)

    async def write(
        self, kernel_id: str, path: str, offset: int, data: bytes, *, truncate: bool
    ) -> int:
        self._known(kernel_id)
        return await self.files.write(kernel_id, path, offset, data, truncate=truncate)
