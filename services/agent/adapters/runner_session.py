"""A live session on a kernel runner's socket (protocol in kernel_runner/live.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Mapping
from typing import Any

from libs.core.errors import Internal, InvalidArgument
from services.agent.domain.model import KernelUnavailable

MAX_MESSAGE = 64 << 20


class RunnerSession:
    """One connection: commands go out, events come in as the kernel produces them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._send_lock = asyncio.Lock()

    async def send(self, message: Mapping[str, Any]) -> None:
        body = json.dumps(dict(message)).encode()
        if len(body) > MAX_MESSAGE:
            raise InvalidArgument(f"command of {len(body)} bytes is over {MAX_MESSAGE}")
        async with self._send_lock:
            try:
                self._writer.write(struct.pack(">I", len(body)) + body)
                await self._writer.drain()
            except OSError as exc:
                raise KernelUnavailable(f"lost the connection to the kernel runner: {exc}") from exc

    async def receive(self) -> dict[str, Any] | None:
        """The next event; None once the runner closed the connection (the kernel ended)."""
        try:
            (size,) = struct.unpack(">I", await self._reader.readexactly(4))
            if size > MAX_MESSAGE:
                raise Internal(f"kernel runner message of {size} bytes is too large")
            message = json.loads(await self._reader.readexactly(size))
        except (OSError, asyncio.IncompleteReadError):
            return None
        if not isinstance(message, dict):
            raise Internal(f"malformed message from the kernel runner: {message!r:.200}")
        return message

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
