"""Apps in kernels, reachable from the agent's host: one loopback TCP listener per kernel app,
each connection tunnelled through the kernel's runner socket to the app's port inside the
kernel's network namespace (docs/apps.md). Traffic counts as the session's activity."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from libs.core.app_keys import HEADER_APP_KEY, app_backend_key
from libs.core.errors import ShipyardError
from libs.events import session_activity
from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.apps import AppDef

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0  # seconds an app may take to listen
_MAX_HEAD = 64 << 10
_FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


async def _checked_head(reader: asyncio.StreamReader, key: str) -> bytes | None:
    """The connection's first request head without the edge's app key, or None when the key
    is missing or wrong (not the edge). Later requests on the connection come from the same
    edge connection."""
    try:
        async with asyncio.timeout(30):
            head = await reader.readuntil(b"\r\n\r\n")
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        return None
    lines = head.split(b"\r\n")
    name = HEADER_APP_KEY.encode()
    found = [ln for ln in lines if ln.split(b":", 1)[0].strip().lower() == name]
    if len(found) != 1:
        return None
    given = found[0].split(b":", 1)[1].strip()
    if not hmac.compare_digest(given, key.encode()):
        return None
    return b"\r\n".join(ln for ln in lines if ln is not found[0])


@dataclass(eq=False)
class _Exposed:
    server: asyncio.Server
    port: int
    conns: set[asyncio.StreamWriter] = field(default_factory=set)


class RunnerAppProxy:
    """`open()` starts an app in a kernel and returns the host:port that reaches it."""

    def __init__(
        self,
        runner_of: Callable[[str], RunnerClient],
        *,
        host: str,
        redis: Redis,
        internal_token: str,
        touch_every: float = 5.0,
    ) -> None:
        self._runner_of = runner_of
        self._host = host
        self._token = internal_token
        self._redis = redis
        self._touch_every = touch_every
        self._exposed: dict[tuple[str, str], _Exposed] = {}
        self._touched: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def open(self, kernel_id: str, session_id: str, app: AppDef) -> str:
        runner = self._runner_of(kernel_id)
        if app.argv:  # else a preopen port: the user's own program listens there
            await runner.start_app(app.name, app.port, list(app.argv), within=START_TIMEOUT)
        async with self._lock:
            key = (kernel_id, app.name)
            if key not in self._exposed:
                conns: set[asyncio.StreamWriter] = set()
                secret = app_backend_key(self._token, app.name, session_id)

                async def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    conns.add(w)
                    try:
                        head = await _checked_head(r, secret)
                        if head is None:
                            w.write(_FORBIDDEN)
                            return
                        await self._relay(head, r, w, kernel_id, session_id, app.port)
                    finally:
                        conns.discard(w)
                        w.close()

                server = await asyncio.start_server(accept, self._host, 0, limit=_MAX_HEAD)
                port = server.sockets[0].getsockname()[1]
                self._exposed[key] = _Exposed(server=server, port=port, conns=conns)
            return f"{self._host}:{self._exposed[key].port}"

    async def close_kernel(self, kernel_id: str) -> None:
        """Stop listening for a kernel's apps and cut their connections."""
        async with self._lock:
            for key in [k for k in self._exposed if k[0] == kernel_id]:
                exposed = self._exposed.pop(key)
                exposed.server.close()
                for writer in list(exposed.conns):  # their relays see the end and finish
                    writer.close()

    async def close(self) -> None:
        for kernel_id in {k for k, _ in self._exposed}:
            await self.close_kernel(kernel_id)

    async def _relay(
        self,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        kernel_id: str,
        session_id: str,
        port: int,
    ) -> None:
        try:
            up_reader, up_writer = await self._runner_of(kernel_id).tunnel(port)
        except ShipyardError as exc:  # the kernel ended, or the app stopped listening
            log.info("app connection to kernel %s port %d refused: %s", kernel_id, port, exc)
            writer.close()
            return
        try:
            up_writer.write(head)
            await asyncio.gather(
                self._pump(reader, up_writer, session_id), self._pump(up_reader, writer, session_id)
            )
        finally:
            for w in (writer, up_writer):
                w.close()

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, session_id: str
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
                await self._touch(session_id)
        with contextlib.suppress(OSError):
            if dst.can_write_eof():
                dst.write_eof()

    async def _touch(self, session_id: str) -> None:
        """At most one activity write per session every `touch_every` seconds."""
        now = time.monotonic()
        if now - self._touched.get(session_id, -self._touch_every) < self._touch_every:
            return
        self._touched[session_id] = now
        try:
            await session_activity.touch(self._redis, session_id)
        except Exception:  # activity is advisory: app traffic must not fail because of it
            log.warning("could not record activity of session %s", session_id, exc_info=True)
