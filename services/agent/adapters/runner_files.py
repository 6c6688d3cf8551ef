"""Files in a kernel's work directory through its runner (kernel_runner/workdir_files.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from libs.core.errors import Internal
from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.files import FileEntry, FileKind, FilePage, FilePiece


class RunnerFiles:
    def __init__(self, runner_of: Callable[[str], RunnerClient]) -> None:
        self._runner_of = runner_of

    async def list(self, kernel_id: str, path: str, offset: int, limit: int) -> FilePage:
        reply = await self._runner_of(kernel_id).files(
            {"op": "files_list", "path": path, "offset": offset, "limit": limit}
        )
        try:
            entries = tuple(
                FileEntry(str(e["name"]), FileKind(e["kind"]), int(e["size"]), float(e["mtime"]))
                for e in reply["entries"]
            )
            return FilePage(entries, int(reply["total"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise Internal(f"malformed file list from the kernel runner: {exc}") from exc

    async def read(self, kernel_id: str, path: str, offset: int, length: int) -> FilePiece:
        reply = await self._runner_of(kernel_id).files(
            {"op": "files_read", "path": path, "offset": offset, "length": length}
        )
        try:
            data = base64.b64decode(reply["data"], validate=True)
            return FilePiece(data, int(reply["size"]), float(reply["mtime"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise Internal(f"malformed file piece from the kernel runner: {exc}") from exc

    async def write(
        self, kernel_id: str, path: str, offset: int, data: bytes, *, truncate: bool
    ) -> int:
        request = {
            "op": "files_write",
            "path": path,
            "offset": offset,
            "data": base64.b64encode(data).decode(),
            "truncate": truncate,
        }
        reply = await self._runner_of(kernel_id).files(request)
        return int(reply.get("size", 0))
