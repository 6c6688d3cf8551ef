"""Session files: list, download and upload files in the work directory of a session's main
kernel, for those who may run code in it (the same check as Execute)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from services.registry.domain.files import KernelFilePage, KernelFilePiece
from services.registry.service.execute import ExecTargets

DEFAULT_PAGE = 100
MAX_PIECE = 1 << 20  # bytes per download or upload call (fits the edge's JSON transcoding)


class AgentFiles(Protocol):
    async def list(
        self, address: str, kernel_id: str, path: str, offset: int, limit: int
    ) -> KernelFilePage: ...

    async def read(
        self, address: str, kernel_id: str, path: str, offset: int, length: int
    ) -> KernelFilePiece: ...

    async def write(
        self, address: str, kernel_id: str, path: str, offset: int, data: bytes, truncate: bool
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class SessionFiles:
    targets: ExecTargets
    agents: AgentFiles

    async def list(
        self, caller: Caller, session_id: str, path: str, page_size: int, page_token: str
    ) -> tuple[KernelFilePage, str]:
        """One page of the directory and the token of the next ("" on the last page)."""
        offset = _offset(page_token)
        limit = page_size or DEFAULT_PAGE
        target = await self.targets(caller, session_id)
        page = await self.agents.list(target.address, target.kernel_id, path, offset, limit)
        after = offset + len(page.entries)
        return page, str(after) if page.entries and after < page.total else ""

    async def download(
        self, caller: Caller, session_id: str, path: str, offset: int, length: int
    ) -> KernelFilePiece:
        target = await self.targets(caller, session_id)
        length = min(length or MAX_PIECE, MAX_PIECE)
        return await self.agents.read(target.address, target.kernel_id, path, offset, length)

    async def upload(
        self,
        caller: Caller,
        session_id: str,
        path: str,
        offset: int,
        data: bytes,
        *,
        truncate: bool,
    ) -> int:
        """Write one piece; the file's size afterwards. An upload is use of the session."""
        target = await self.targets(caller, session_id)
        await self.targets.touch(target.session_id)
        return await self.agents.write(
            target.address, target.kernel_id, path, offset, data, truncate
        )


def _offset(page_token: str) -> int:
    if not page_token:
        return 0
    if not page_token.isdigit():
        why = "not a token from a previous response"
        raise InvalidArgument(f"page_token: {why}", violations=[FieldViolation("page_token", why)])
    return int(page_token)
