"""Headless Chromium for tests, driven over the DevTools protocol (no browser download: the
Debian `chromium` that scripts/system-packages installs)."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


class Page:
    """One tab: navigate, then evaluate JavaScript in it."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def goto(self, url: str) -> None:
        await self.call("Page.enable")
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, within: float = 20.0) -> Any:
        """The expression's value once it is truthy (page loads and sockets are asynchronous)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError:
                value = None  # the page is navigating
            if value or loop.time() > deadline:
                return value
            await asyncio.sleep(0.1)


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A fresh browser (its own profile: no cookies); yields `new_page()`."""
    profile = Path(tempfile.mkdtemp(prefix="shipyard-chromium-"))
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    sockets: list[websockets.ClientConnection] = []
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().count("\n") >= 1:
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])

        async def new_page() -> Page:
            async with httpx.AsyncClient() as http:
                target = (await http.put(f"http://127.0.0.1:{port}/json/new?about:blank")).json()
            ws = await websockets.connect(target["webSocketDebuggerUrl"], max_size=None)
            sockets.append(ws)
            return Page(ws)

        yield new_page
    finally:
        for ws in sockets:
            await ws.close()
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
