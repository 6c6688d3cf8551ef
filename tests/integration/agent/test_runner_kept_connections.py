"""A RunnerClient that keeps its connections to a real kernel runner open between calls."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import psutil
import pytest

from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.model import ExecMode, KernelUnavailable
from tests.integration.agent.runner_process import short_dir, start_runner, stop_runner

__all__ = ["short_dir"]  # the fixture, used here


def _open_connections(proc: subprocess.Popen[bytes]) -> int:
    """The runner's unix sockets besides its listening one."""
    return len(psutil.Process(proc.pid).net_connections("unix")) - 1


async def _run(client: RunnerClient, code: str, limit: float = 10) -> str:
    return (await client.execute(ExecMode.QUERY, code, limit)).stdout


async def test_calls_one_after_another_share_one_connection(short_dir: Path) -> None:
    proc = start_runner(short_dir)
    client = RunnerClient(short_dir / "runner.sock", keep=2)
    try:
        await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
        for i in range(5):
            assert await _run(client, f"print({i})") == f"{i}\n"
        assert _open_connections(proc) == 1
        client.close()
        await asyncio.sleep(0.2)
        assert _open_connections(proc) == 0
    finally:
        client.close()
        stop_runner(proc)


async def test_concurrent_calls_get_their_own_replies(short_dir: Path) -> None:
    proc = start_runner(short_dir)
    client = RunnerClient(short_dir / "runner.sock", keep=2)
    try:
        await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
        for _ in range(3):
            outs = await asyncio.gather(*(_run(client, f"print({i})") for i in range(6)))
            assert outs == [f"{i}\n" for i in range(6)]
    finally:
        client.close()
        stop_runner(proc)


async def test_an_abandoned_call_leaves_no_late_reply_for_the_next(short_dir: Path) -> None:
    proc = start_runner(short_dir)
    client = RunnerClient(short_dir / "runner.sock", keep=2)
    try:
        await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
        slow = asyncio.create_task(_run(client, "import time\ntime.sleep(0.5)\nprint('slow')"))
        await asyncio.sleep(0.1)
        slow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slow
        assert await _run(client, "print('next')") == "next\n"
    finally:
        client.close()
        stop_runner(proc)


async def test_a_restarted_runner_is_reached_on_a_fresh_connection(short_dir: Path) -> None:
    proc = start_runner(short_dir)
    client = RunnerClient(short_dir / "runner.sock", keep=2)
    try:
        await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
        assert await _run(client, "x = 1\nprint(x)") == "1\n"
        stop_runner(proc)
        await asyncio.sleep(0.1)  # the kept connection sees the runner's end
        with pytest.raises(KernelUnavailable):
            await client.ping(within=1)
        proc = start_runner(short_dir)
        await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
        assert await _run(client, "print('x' in globals())") == "False\n"  # a new interpreter
    finally:
        client.close()
        stop_runner(proc)
