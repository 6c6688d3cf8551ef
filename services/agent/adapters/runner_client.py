"""Async client of the kernel runner's unix socket (protocol in kernel_runner/__main__.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from libs.core.errors import (
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
)
from services.agent.adapters.runner_session import RunnerSession
from services.agent.adapters.runner_terminal import RunnerTerminal
from services.agent.domain.apps import AppStartFailed
from services.agent.domain.model import (
    Display,
    ExecMode,
    ExecResult,
    ExecStatus,
    KernelUnavailable,
)

MAX_MESSAGE = 64 << 20
# How much longer than the execution timeout we wait for the runner to report it.
REPLY_GRACE = 15.0  # a Jupyter cell may queue 5 s and take 5 s to stop (jupyter_kernel.py)
# Connections a backend keeps open per kernel: enough for an execution and a ping at once.
KEPT_CONNECTIONS = 2


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RunnerClient:
    """One kernel's runner. Each call has a connection to itself, so concurrent calls never mix.

    With `keep` > 0, up to that many connections are kept open after a call that got its reply
    and reused by later calls (the runner serves any number of requests per connection): a call
    then costs no connect and no new thread in the runner. Whoever keeps them must `close()`.
    """

    def __init__(
        self, socket_path: Path | str, *, connect_timeout: float = 5.0, keep: int = 0
    ) -> None:
        self._path = str(socket_path)
        self._connect_timeout = connect_timeout
        self._keep = keep
        self._idle: list[_Connection] = []

    def close(self) -> None:
        """Close the kept connections (the kernel ended); later calls connect anew."""
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()

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

    async def setup(self, environ: dict[str, str]) -> None:
        """Give a pre-started runner its session's environment; it refuses all else before."""
        await self._call({"op": "setup", "environ": environ}, within=10.0)

    async def wait_started(self) -> None:
        """Return once the runner's start is over: its Jupyter kernel answers or failed to start,
        or none is starting (the caller bounds the wait)."""
        await self._call({"op": "ready"}, within=None)

    async def restart(self, *, within: float, alive: Callable[[], bool]) -> None:
        """Restart the runner in place (fresh interpreter and Jupyter kernel, same work dir);
        returns once the new runner answers."""
        generation = (await self._call({"op": "restart"}, within=10.0)).get("generation")
        self.close()  # kept connections lead to the runner that is going away
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            with contextlib.suppress(KernelUnavailable):  # the old one is going, the new coming
                reply = await self._call({"op": "ping"}, within=2.0, connect_within=0)
                if reply.get("generation") == generation:
                    return
            if not alive() or loop.time() > deadline:
                raise KernelUnavailable(f"the kernel runner did not come back within {within}s")
            await asyncio.sleep(0.05)

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
                displays=tuple(
                    Display({str(k): str(v) for k, v in d["data"].items()}, bool(d["result"]))
                    for d in reply.get("displays", ())
                ),
                truncated=bool(reply.get("truncated", False)),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise Internal(f"malformed reply from the kernel runner: {reply!r:.200}") from exc

    async def interrupt(self) -> None:
        """Stop the cell running on the kernel's Jupyter kernel (a no-op without one)."""
        await self._call({"op": "interrupt"}, within=10.0)

    async def open_session(self) -> RunnerSession:
        """A live session (kernel_runner/live.py) on a connection of its own."""
        reader, writer = await self._connect(self._connect_timeout)
        session = RunnerSession(reader, writer)
        try:
            await session.send({"op": "session"})
            async with asyncio.timeout(10.0):
                reply = await session.receive()
        except BaseException:
            await session.close()
            raise
        if reply != {"ok": True}:
            await session.close()
            raise Internal(f"kernel runner refused a live session: {reply!r:.200}")
        return session

    async def start_app(self, name: str, port: int, argv: list[str], *, within: float) -> None:
        """Start the app (unless it runs) and return once it listens on `port` in the kernel."""
        request = {"op": "start_app", "name": name, "port": port, "argv": argv, "timeout": within}
        try:
            await self._call(request, within=within + REPLY_GRACE)
        except Internal as exc:  # the runner answered: the app exited or never listened
            raise AppStartFailed(
                f"app {name!r} did not start: {exc}"[:500], metadata={"app": name}
            ) from exc

    async def tunnel(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection carrying raw bytes to and from 127.0.0.1:`port` inside the kernel."""
        reader, writer = await self._connect(self._connect_timeout)
        try:
            body = json.dumps({"op": "tunnel", "port": port}).encode()
            writer.write(struct.pack(">I", len(body)) + body)
            async with asyncio.timeout(10):
                (size,) = struct.unpack(">I", await reader.readexactly(4))
                reply = json.loads(await reader.readexactly(min(size, 4096)))
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            writer.close()
            raise KernelUnavailable(f"no tunnel to port {port} in the kernel: {exc}") from exc
        if not isinstance(reply, dict) or "error" in reply:
            writer.close()
            raise KernelUnavailable(f"no tunnel to port {port} in the kernel: {reply!r:.200}")
        return reader, writer

    async def open_terminal(self, rows: int, cols: int) -> RunnerTerminal:
        """A shell on a new PTY in the kernel, on a connection of its own."""
        reader, writer = await self._connect(self._connect_timeout)
        return await RunnerTerminal.open(reader, writer, rows, cols)

    async def files(self, request: dict[str, Any]) -> dict[str, Any]:
        """A files_* request (kernel_runner/workdir_files.py); a refusal raises its error."""
        reply = await self._call(request, within=60.0)
        if reply.get("ok") is True:
            return reply
        message = str(reply.get("message", "refused"))
        status = reply.get("status")
        if status == "invalid_argument":
            field = message.partition(":")[0] or "path"
            raise InvalidArgument(message, violations=[FieldViolation(field, message)])
        if status == "not_found":
            raise NotFound(message, reason="KERNEL_FILE_NOT_FOUND")
        raise FailedPrecondition(message, reason="KERNEL_FILE_REFUSED")

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
        reader, writer = self._kept() or await self._connect(wait)
        answered = False
        try:
            writer.write(struct.pack(">I", len(body)) + body)
            await writer.drain()
            async with asyncio.timeout(within):
                (size,) = struct.unpack(">I", await reader.readexactly(4))
                if size > MAX_MESSAGE:
                    raise Internal(f"kernel runner reply of {size} bytes is too large")
                reply = json.loads(await reader.readexactly(size))
            answered = True
        except TimeoutError as exc:
            raise KernelUnavailable(f"kernel runner did not answer within {within}s") from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise KernelUnavailable(f"lost the connection to the kernel runner: {exc}") from exc
        finally:
            if answered and len(self._idle) < self._keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
        if not isinstance(reply, dict) or "error" in reply:
            raise Internal(f"kernel runner rejected the request: {reply!r:.200}")
        return reply

    def _kept(self) -> _Connection | None:
        """A kept connection the runner has not closed (a runner that ended closed them all)."""
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

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
