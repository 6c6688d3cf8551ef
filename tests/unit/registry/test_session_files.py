"""SessionFiles: the main kernel's agent serves the files, page tokens walk a directory, uploads
count as use, and nobody outside the Execute rule reaches anything."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.core.errors import InvalidArgument
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotFound
from services.registry.domain.files import KernelFileEntry, KernelFilePage, KernelFilePiece
from services.registry.service.execute import ExecTargets
from services.registry.service.session_files import MAX_PIECE, SessionFiles
from tests.unit.registry.test_access import ADMIN_B, OWNER, PEER
from tests.unit.registry.test_open_terminal import _running, _Store

NAMES = [f"f{i}" for i in range(5)]
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


class _Agents:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def list(
        self, address: str, kernel_id: str, path: str, offset: int, limit: int
    ) -> KernelFilePage:
        self.calls.append(("list", address, kernel_id, path, offset, limit))
        entries = tuple(KernelFileEntry(n, "file", 1, WHEN) for n in NAMES[offset : offset + limit])
        return KernelFilePage(entries, len(NAMES))

    async def read(
        self, address: str, kernel_id: str, path: str, offset: int, length: int
    ) -> KernelFilePiece:
        self.calls.append(("read", address, kernel_id, path, offset, length))
        return KernelFilePiece(b"x", 1, WHEN)

    async def write(
        self, address: str, kernel_id: str, path: str, offset: int, data: bytes, truncate: bool
    ) -> int:
        self.calls.append(("write", address, kernel_id, path, offset, data, truncate))
        return offset + len(data)


class _Clock:
    def __init__(self) -> None:
        self.touched: list[str] = []

    async def touch(self, session_id: str) -> None:
        self.touched.append(session_id)


def _files() -> tuple[SessionFiles, _Agents, _Clock]:
    agents, clock = _Agents(), _Clock()
    targets = ExecTargets(_Store(_running()), None, clock)  # type: ignore[arg-type]
    return SessionFiles(targets, agents), agents, clock


async def test_page_tokens_walk_the_whole_directory() -> None:
    files, agents, _ = _files()
    seen, token = [], ""
    while True:
        page, token = await files.list(OWNER, "s1", "sub", 2, token)
        seen += [e.name for e in page.entries]
        if not token:
            break
    assert seen == NAMES
    assert agents.calls[0] == ("list", "10.0.0.5:6001", "k1", "sub", 0, 2)


async def test_a_made_up_page_token_is_bad_input() -> None:
    files, _, _ = _files()
    with pytest.raises(InvalidArgument, match="page_token"):
        await files.list(OWNER, "s1", "", 0, "abc")


async def test_downloads_are_capped_and_uploads_count_as_use() -> None:
    files, agents, clock = _files()
    await files.download(OWNER, "s1", "a", 0, 0)
    assert agents.calls[-1][-1] == MAX_PIECE
    assert await files.upload(OWNER, "s1", "a", 3, b"yz", truncate=False) == 5
    assert clock.touched == ["s1"]


@pytest.mark.parametrize("caller", [PEER, ADMIN_B])
async def test_anyone_else_is_told_the_session_does_not_exist(caller: Caller) -> None:
    files, agents, clock = _files()
    with pytest.raises(SessionNotFound):
        await files.upload(caller, "s1", "a", 0, b"x", truncate=True)
    with pytest.raises(SessionNotFound):
        await files.list(caller, "s1", "", 0, "")
    assert agents.calls == [] and clock.touched == []
