"""Terminals through the edge's WebSocket bridge: open latency and keystroke echo round trip.

    .venv/bin/python -m bench.terminal [--opens 10] [--keys 200] [--backend container]

It starts its own platform (free ports, its own database), creates one session, opens `--opens`
terminals one after the other (handshake until the shell's first output), then types `--keys`
single characters into one terminal, each sent once the previous one was echoed. Figures are
wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time

import aiohttp

from bench.bench_platform import bench_platform, superadmin_client
from bench.sessions import pct as _pct
from cli.client import ShipyardClient
from cli.engine import choose_backend


async def _output(ws: aiohttp.ClientWebSocketResponse) -> bytes:
    message = await ws.receive()
    if message.type is not aiohttp.WSMsgType.TEXT:
        raise RuntimeError(f"terminal ended: {message}")
    return base64.b64decode(json.loads(message.data)["output"].get("data", ""))


async def run(client: ShipyardClient, opens: int, keys: int) -> None:
    session = await client.create_session(wait=True, resources={"cpu": "1", "mem": "268435456"})
    sid = session["session_id"]
    rel_url = f"/v1/sessions/{sid}/terminal"
    url = client.url(rel_url).replace("http", "ws", 1)
    open_ms: list[float] = []
    echo_ms: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(opens):
            t0 = time.perf_counter()
            headers = await client.auth_headers("GET", rel_url)
            async with http.ws_connect(url, headers=headers) as ws:
                await _output(ws)
                open_ms.append((time.perf_counter() - t0) * 1000)
        headers = await client.auth_headers("GET", rel_url)
        async with http.ws_connect(url, headers=headers) as ws:
            await _output(ws)
            await asyncio.sleep(0.5)  # let the prompt settle
            for i in range(keys):
                key = b"abcdefghij"[i % 10 : i % 10 + 1]
                t1 = time.perf_counter()
                await ws.send_str(json.dumps({"data": base64.b64encode(key).decode()}))
                seen = b""
                while key not in seen:
                    seen += await _output(ws)
                echo_ms.append((time.perf_counter() - t1) * 1000)
    await client.destroy_session(sid)
    print(
        f"open (handshake to first output) ms, {opens} terminals: p50 {_pct(open_ms, 0.5):.1f}"
        f"  max {max(open_ms):.1f}  mean {statistics.mean(open_ms):.1f}"
    )
    print(
        f"keystroke echo ms, {keys} keys: p50 {_pct(echo_ms, 0.5):.1f}"
        f"  p99 {_pct(echo_ms, 0.99):.1f}  mean {statistics.mean(echo_ms):.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opens", type=int, default=10)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--backend", choices=("process", "container"), default="process")
    args = parser.parse_args()
    backend, detail = await choose_backend(args.backend)
    agent_env = {"BACKEND": backend} | ({"DOCKER_HOST": detail} if backend == "container" else {})
    print(f"kernel backend: {backend} ({detail})")
    async with (
        bench_platform(agent_env=agent_env) as platform,
        superadmin_client(platform) as client,
    ):
        await run(client, args.opens, args.keys)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
