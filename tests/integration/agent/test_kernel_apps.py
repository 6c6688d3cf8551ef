"""Kernel apps through the agent's proxy and a real kernel runner: the app starts on demand,
HTTP and WebSocket reach it through the runner's tunnel, its traffic counts as the session's
activity, a broken app is reported, and a kernel's listeners close with it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.infra import free_port
from libs.core.app_keys import HEADER_APP_KEY, app_backend_key
from libs.events import session_activity
from services.agent.adapters.app_proxy import RunnerAppProxy
from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.apps import AppDef, AppStartFailed, app_catalog, resolve_app
from services.agent.kernel_runner import ECHO_APP_SCRIPT
from tests.integration.agent.runner_process import short_dir as short_dir  # the fixture
from tests.integration.agent.runner_process import start_runner, stop_runner
from tests.websocket_client import echo_once

TOKEN = "internal-token"


@pytest.fixture
def runner(short_dir: Path) -> Iterator[RunnerClient]:
    proc = start_runner(short_dir)
    yield RunnerClient(short_dir / "runner.sock")
    stop_runner(proc, gently=True)  # SIGTERM: the runner stops its apps' process groups too


async def _get(url: str, headers: dict[str, str]) -> httpx.Response:
    """On a connection of its own: the proxy checks the key once per connection."""
    async with httpx.AsyncClient() as http:
        return await http.get(url, headers=headers)


def _echo(port: int) -> AppDef:
    catalog = app_catalog(ECHO_APP_SCRIPT.read_text(), {"broken": "exit 3"})
    return resolve_app(catalog, "echo", port)


async def test_app_serves_http_and_websocket_through_the_proxy_and_counts_as_activity(
    runner, redis
):
    proxy = RunnerAppProxy(lambda _kid: runner, host="127.0.0.1", redis=redis, internal_token=TOKEN)
    session_id = str(uuid.uuid4())
    try:
        app = _echo(free_port())
        address = await proxy.open("k-1", session_id, app)
        assert await proxy.open("k-1", session_id, app) == address  # idempotent
        host, port = address.rsplit(":", 1)
        key = {HEADER_APP_KEY: app_backend_key(TOKEN, "echo", session_id)}
        page = await _get(f"http://{address}/", key)
        assert page.status_code == 200
        assert "shipyard echo app" in page.text
        # Only the edge, which knows the app's key, gets through.
        assert (await _get(f"http://{address}/", {})).status_code == 403
        wrong = {HEADER_APP_KEY: app_backend_key(TOKEN, "echo", str(uuid.uuid4()))}
        assert (await _get(f"http://{address}/", wrong)).status_code == 403
        status, echoed = await echo_once(host, int(port), "/ws", "ping", {"Host": address, **key})
        assert (status, echoed) == (101, "ping")
        assert await session_activity.last_seen(redis, session_id) is not None

        await proxy.close_kernel("k-1")
        with pytest.raises(OSError):
            await asyncio.open_connection(host, int(port))
    finally:
        await proxy.close()
        await redis.delete(session_activity.activity_key(session_id))


async def test_an_app_that_exits_is_reported_with_its_name(runner, redis):
    proxy = RunnerAppProxy(lambda _kid: runner, host="127.0.0.1", redis=redis, internal_token=TOKEN)
    catalog = app_catalog(ECHO_APP_SCRIPT.read_text(), {"broken": "exit 3"})
    with pytest.raises(AppStartFailed, match="broken"):
        await proxy.open("k-1", str(uuid.uuid4()), resolve_app(catalog, "broken", free_port()))
    await proxy.close()
