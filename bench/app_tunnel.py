"""Cost of reaching a kernel app through the agent (docs/apps.md): HTTP GETs of the echo app
straight to its port vs through RunnerAppProxy's listener and the kernel runner's tunnel.

    .venv/bin/python -m bench.app_tunnel [--requests 2000] [--connections 8]

Runs the kernel runner as a plain process (no sandbox) and needs the local Redis
(SHIPYARD_TEST_REDIS_URL or redis://127.0.0.1:6379/0) for the activity writes. Each connection
is kept alive; a fresh connection per request would add one runner handshake each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from redis.asyncio import Redis

from cli.infra import free_port
from libs.core.app_keys import HEADER_APP_KEY, app_backend_key
from libs.events import session_activity
from services.agent.adapters.app_proxy import RunnerAppProxy
from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.apps import ECHO_APP, app_catalog, resolve_app
from services.agent.kernel_runner import ECHO_APP_SCRIPT, RUNNER_SCRIPT


async def _run(url: str, requests: int, connections: int, headers: dict[str, str]) -> float:
    """Requests per second of `requests` GETs spread over `connections` kept-alive clients."""
    per = requests // connections

    async def one() -> None:
        async with httpx.AsyncClient(http2=False) as http:
            for _ in range(per):
                r = await http.get(url, headers=headers)
                r.raise_for_status()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return per * connections / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sy-bench-", dir="/tmp"))
    (base / "work").mkdir()
    sock = base / "runner.sock"
    runner_args = ["--socket", str(sock), "--workdir", str(base / "work")]
    proc = await asyncio.create_subprocess_exec(sys.executable, str(RUNNER_SCRIPT), *runner_args)
    redis = Redis.from_url(os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    runner = RunnerClient(sock)
    proxy = RunnerAppProxy(lambda _kid: runner, host="127.0.0.1", redis=redis, internal_token="t")
    session_id = str(uuid.uuid4())
    try:
        port = free_port()
        app = resolve_app(app_catalog(ECHO_APP_SCRIPT.read_text(), {}), ECHO_APP, port)
        address = await proxy.open("k-bench", session_id, app)
        key = {HEADER_APP_KEY: app_backend_key("t", ECHO_APP, session_id)}  # as the edge sends
        for name, url in (
            ("direct", f"http://127.0.0.1:{port}/health"),
            ("tunnel", f"http://{address}/health"),
        ):
            await _run(url, args.connections * 10, args.connections, key)  # warm up
            rate = await _run(url, args.requests, args.connections, key)
            print(f"{name:7} {rate:8.0f} req/s ({args.connections} connections)")
    finally:
        await proxy.close()
        await redis.delete(session_activity.activity_key(session_id))
        await redis.aclose()
        proc.terminate()  # the runner stops the app with it
        await proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
