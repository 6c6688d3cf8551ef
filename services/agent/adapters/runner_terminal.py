"""A terminal on a kernel runner connection (protocol in kernel_runner/pty_session.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

from services.agent.domain.model import KernelUnavailable, TerminalEvent

MAX_FRAME = 1 << 20
OPEN_WITHIN = 10.0


class RunnerTerminal:
    """One shell; `open` sends the pty request and waits for the runner's consent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rows: int, cols: int
    ) -> RunnerTerminal:
        terminal = cls(reader, writer)
        try:
            await terminal._send({"op": "pty", "rows": rows, "cols": cols})
            async with asyncio.timeout(OPEN_WITHIN):
                reply = await terminal._recv()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await terminal.close()
            raise KernelUnavailable(f"the kernel runner did not open a terminal: {exc}") from exc
        if not isinstance(reply, dict) or reply.get("ok") is not True:
            await terminal.close()
            raise KernelUnavailable(f"the kernel runner refused a terminal: {reply!r:.200}")
        return terminal

    async def write(self, data: bytes) -> None:
        await self._send({"data": base64.b64encode(data).decode()})

    async def resize(self, rows: int, cols: int) -> None:
        await self._send({"resize": [rows, cols]})

    async def events(self) -> AsyncIterator[TerminalEvent]:
        while True:
            try:
                frame = await self._recv()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                return  # the kernel (or its runner) is gone
            if not isinstance(frame, dict):
                return
            if isinstance(data := frame.get("data"), str):
                yield TerminalEvent(data=base64.b64decode(data))
            elif isinstance(code := frame.get("exit"), int):
                yield TerminalEvent(exit_code=code)
                return

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()

    async def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        async with self._write_lock:
            self._writer.write(struct.pack(">I", len(body)) + body)
            await self._writer.drain()

    async def _recv(self) -> object:
        (size,) = struct.unpack(">I", await self._reader.readexactly(4))
        if size > MAX_FRAME:
            raise ValueError(f"terminal frame of {size} bytes is too large")
        return json.loads(await self._reader.readexactly(size))
