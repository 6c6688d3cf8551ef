"""The kernel runner restarting in place, and interrupt / completion without a Jupyter kernel."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.model import ExecMode, ExecStatus
from tests.integration.agent.runner_process import short_dir, start_runner

__all__ = ["short_dir"]


@pytest.fixture
def runner_proc(short_dir: Path) -> Iterator[tuple[RunnerClient, subprocess.Popen[bytes]]]:
    proc = start_runner(short_dir)
    yield RunnerClient(short_dir / "runner.sock"), proc
    proc.kill()
    proc.wait()


async def test_a_restart_keeps_the_work_dir_and_forgets_the_namespace(
    runner_proc: tuple[RunnerClient, subprocess.Popen[bytes]],
) -> None:
    client, proc = runner_proc
    await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
    code = "x = 42\nopen('kept.txt', 'w').write('still here')"
    assert (await client.execute(ExecMode.QUERY, code, 10)).status is ExecStatus.FINISHED
    await client.restart(within=20, alive=lambda: proc.poll() is None)
    assert proc.poll() is None  # the same process, a new program
    got = await client.execute(ExecMode.QUERY, "print(open('kept.txt').read())", 10)
    assert got.stdout == "still here\n"
    got = await client.execute(ExecMode.QUERY, "print(x)", 10)
    assert got.error_name == "NameError"
    await client.restart(within=20, alive=lambda: proc.poll() is None)  # and again
    got = await client.execute(ExecMode.QUERY, "print(6 * 7)", 10)
    assert got.stdout == "42\n"


async def test_interrupt_stops_a_batch_command_and_a_plain_query(
    runner_proc: tuple[RunnerClient, subprocess.Popen[bytes]],
) -> None:
    client, proc = runner_proc
    await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
    batch = asyncio.create_task(client.execute(ExecMode.BATCH, "sleep 60", 0))
    await asyncio.sleep(1.0)
    await client.interrupt()
    got = await asyncio.wait_for(batch, 20)
    assert got.exit_code == 130, got
    query = asyncio.create_task(client.execute(ExecMode.QUERY, "import time\ntime.sleep(60)", 0))
    await asyncio.sleep(1.0)
    await client.interrupt()
    got = await asyncio.wait_for(query, 20)
    assert got.error_name == "KeyboardInterrupt", got


async def test_completion_without_jupyter_uses_the_query_namespace(
    runner_proc: tuple[RunnerClient, subprocess.Popen[bytes]],
) -> None:
    client, proc = runner_proc
    await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
    await client.execute(ExecMode.QUERY, "import os\nmy_value = 1", 10)
    session = await client.open_session()
    try:
        await session.send({"op": "complete", "code": "x = my_v", "cursor_pos": 8})
        got = await asyncio.wait_for(session.receive(), 10)
        assert got == {
            "event": "completion",
            "matches": ["my_value"],
            "cursor_start": 4,
            "cursor_end": 8,
        }
        await session.send({"op": "complete", "code": "os.pa", "cursor_pos": 5})
        got = await asyncio.wait_for(session.receive(), 10)
        assert got is not None and "os.path" in got["matches"]
    finally:
        await session.close()


async def test_a_batch_kernel_runs_its_startup_command_again(short_dir: Path) -> None:
    proc = start_runner(short_dir, "--startup-command", "echo run >> runs.txt; sleep 60")
    try:
        client = RunnerClient(short_dir / "runner.sock")
        await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
        runs = short_dir / "work" / "runs.txt"
        for _ in range(100):
            if runs.exists():
                break
            await asyncio.sleep(0.05)
        await client.restart(within=20, alive=lambda: proc.poll() is None)
        for _ in range(100):
            if runs.read_text().count("run") == 2:
                break
            await asyncio.sleep(0.05)
        assert runs.read_text() == "run\nrun\n"
        assert proc.poll() is None  # the killed first command did not end the kernel
    finally:
        proc.terminate()  # the runner's SIGTERM handler ends the startup command too
        proc.wait()
