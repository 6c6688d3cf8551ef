"""Async client of the kernel runner's unix socket (protocol in kernel_runner/__main__.py)."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from libs.core.errors import Internal, InvalidArgument
from services.agent.adapters.runner_terminal import RunnerTerminal
from services.agent.domain.model import ExecMode, ExecResult, ExecStatus, KernelUnavailable

MAX_MESSAGE = 64 << 20
# How much longer than the execution timeout we wait for the runner to report it.
REPLY_GRACE = 10.0


class RunnerClient:
    """One kernel's runner. Each call opens its own connection, so concurrent calls never mix."""

    def __init__(self, socket_path: Path | str, *, connect_timeout: float = 5.0) -> None:
        self._path = str(socket_path)
        self._connect_timeout = connect_timeout

    async def ping(self, *, within: float = 5.0) -> None:
        await self._call({"op": "ping"}, within=within)

    async def wait_ready(self, *, within: float, alive: Callable[[], bool]) -> None:
        """Ping until the runner answers; give up early once `alive()` says it is gone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        delay = 0.01
        while True:
            try:
                left = max(0.1, min(2.0, deadline - loop.time()))
                await self._call({"op": "ping"}, within=left, connect_within=0)
            except KernelUnavailable:
                if not alive() or loop.time() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(
                    delay * 2, 0.025
                )  # connecting to a unix socket is cheap; start-up latency is not
            else:
                return

    async def execute(self, mode: ExecMode, code: str, timeout: float) -> ExecResult:
        """Run code; the runner stops it after `timeout` seconds (<= 0: no limit)."""
        request = {"op": "execute", "mode": str(mode), "code": code, "timeout": timeout}
        reply = await self._call(request, within=timeout + REPLY_GRACE if timeout > 0 else None)
        try:
            return ExecResult(
                status=ExecStatus(reply["status"]),
                stdout=str(reply["stdout"]),
                stderr=str(reply["stderr"]),
                exit_code=int(reply["exit_code"]),
                error_name=str(reply["error_name"]),
                error_message=str(reply["error_message"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Internal(f"malformed reply from the kernel runner: {reply!r:.200}") from exc

    async def open_terminal(self, rows: int, cols: int) -> RunnerTerminal:
        """A shell on a new PTY in the kernel, on a connection of its own."""
        reader, writer = await self._connect(self._connect_timeout)
        return await RunnerTerminal.open(reader, writer, rows, cols)

    async def _call(
        self,
        request: dict[str, Any],
        *,
        within: float | None,
        connect_within: float | None = None,
    ) -> dict[str, Any]:
        body = json.dumps(request).encode()
        if len(body) > MAX_MESSAGE:
            raise InvalidArgument(f"request of {len(body)} bytes is over {MAX_MESSAGE}")
        wait = self._connect_timeout if connect_within is None else connect_within
        reader, writer = await self._connect(wait)
        try:
            writer.write(struct.pack(">I", len(body)) + body)
            await writer.drain()
            async with asyncio.timeout(within):
                (size,) = struct.unpack(">I", await reader.readexactly(4))
                if size > MAX_MESSAGE:
                    raise Internal(f"kernel runner reply of {size} bytes is too large")
                reply = json.loads(await reader.readexactly(size))
        except TimeoutError as exc:
            raise KernelUnavailable(f"kernel runner did not answer within {within}s") from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise KernelUnavailable(f"lost the connection to the kernel runner: {exc}") from exc
        finally:
            writer.close()
        if not isinstance(reply, dict) or "error" in reply:
            raise Internal(f"kernel runner rejected the request: {reply!r:.200}")
        return reply

    async def _connect(self, wait: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect, retrying for `wait` seconds while the socket is missing or nobody listens."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = 0.01
        while True:
            try:
                return await asyncio.open_unix_connection(self._path, limit=MAX_MESSAGE)
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if loop.time() + delay > deadline:
                    raise KernelUnavailable(f"kernel runner at {self._path} is not up") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
