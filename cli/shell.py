"""`shipyard session shell <id>`: this terminal attached to a shell in the session, over the
edge's WebSocket (`GET /v1/sessions/{id}/terminal`, docs/streaming.md)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import ssl
import sys
import termios
import tty
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp

from cli.client import ShipyardClient

READ_CHUNK = 4096


def _size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 24, 80
    if not size.lines or not size.columns:  # a terminal nobody sized yet
        return 24, 80
    return size.lines, size.columns


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """Keys go to the remote shell as typed (Ctrl-C included); restored on the way out."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSADRAIN)  # keep what was typed ahead
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _frame(data: bytes = b"", size: tuple[int, int] | None = None) -> str:
    message: dict[str, Any] = {}
    if data:
        message["data"] = base64.b64encode(data).decode()
    if size is not None:
        message["size"] = {"rows": size[0], "cols": size[1]}
    return json.dumps(message)


async def run_shell(client: ShipyardClient, session_id: str) -> int:
    """The remote shell's exit code; 1 (with a message on stderr) when it could not run."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    rows, cols = _size(stdin)
    rel_url = (
        f"/v1/sessions/{quote(session_id, safe='')}/terminal?size.rows={rows}&size.cols={cols}"
    )
    headers = await client.auth_headers("GET", rel_url)
    context: ssl.SSLContext | bool = True
    if client.ca_file:
        context = ssl.create_default_context(cafile=client.ca_file)
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(client.url(rel_url), headers=headers, ssl=context)
        except aiohttp.WSServerHandshakeError as exc:
            print(f"shipyard: cannot open a terminal: HTTP {exc.status}", file=sys.stderr)
            return 1
        except aiohttp.ClientError as exc:
            print(f"shipyard: cannot reach the edge: {exc}", file=sys.stderr)
            return 1
        with _raw(stdin):
            return await _relay(ws, stdin, stdout)


async def _relay(ws: aiohttp.ClientWebSocketResponse, stdin: int, stdout: int) -> int:
    loop = asyncio.get_running_loop()
    outgoing: asyncio.Queue[str] = asyncio.Queue()

    def on_input() -> None:
        data = os.read(stdin, READ_CHUNK)
        if not data:  # end of piped input: the shell decides when to end
            loop.remove_reader(stdin)
            return
        outgoing.put_nowait(_frame(data))

    loop.add_reader(stdin, on_input)
    loop.add_signal_handler(signal.SIGWINCH, lambda: outgoing.put_nowait(_frame(size=_size(stdin))))

    async def send() -> None:
        while True:
            await ws.send_str(await outgoing.get())

    sender = asyncio.create_task(send())
    exit_code: int | None = None
    reason = ""
    try:
        while True:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                reason = str(message.extra or "") if message.type is aiohttp.WSMsgType.CLOSE else ""
                break
            output = json.loads(message.data).get("output", {})
            if data := output.get("data"):
                os.write(stdout, base64.b64decode(data))
            if "exit" in output:
                exit_code = int(output["exit"].get("code", 0))
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        loop.remove_reader(stdin)
        loop.remove_signal_handler(signal.SIGWINCH)
    if exit_code is None:
        why = f"close code {ws.close_code}" + (f": {reason}" if reason else "")
        print(f"\r\nshipyard: the terminal ended without an exit status ({why})", file=sys.stderr)
        return 1
    return exit_code
