"""The kernel runner as a real process, driven through RunnerClient over its unix socket."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.core.errors import Internal
from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.model import ExecMode, ExecResult, ExecStatus
from tests.integration.agent.runner_process import short_dir, start_runner, stop_runner

__all__ = ["short_dir"]  # the fixture, used here


@pytest.fixture
def runner(short_dir: Path) -> Iterator[RunnerClient]:
    proc = start_runner(short_dir)
    yield RunnerClient(short_dir / "runner.sock")
    stop_runner(proc)


async def query(client: RunnerClient, code: str, limit: float = 10) -> ExecResult:
    return await client.execute(ExecMode.QUERY, code, limit)


async def test_query_mode_keeps_state_across_calls(runner: RunnerClient) -> None:
    assert (await query(runner, "x = 6*7")).status == ExecStatus.FINISHED
    got = await query(runner, "print(x)")
    assert (got.status, got.stdout, got.exit_code) == (ExecStatus.FINISHED, "42\n", 0)


async def test_query_mode_captures_stdout_and_stderr(runner: RunnerClient) -> None:
    got = await query(runner, "import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert (got.stdout, got.stderr) == ("out\n", "err\n")


async def test_an_exception_fails_with_its_name_and_traceback(runner: RunnerClient) -> None:
    got = await query(runner, "print('before')\n1 / 0")
    assert got.status == ExecStatus.FAILED
    assert (got.error_name, got.error_message, got.exit_code) == (
        "ZeroDivisionError",
        "division by zero",
        1,
    )
    assert got.stdout == "before\n"
    assert 'File "<cell>", line 2' in got.stderr
    assert "ZeroDivisionError" in got.stderr


async def test_a_syntax_error_fails(runner: RunnerClient) -> None:
    got = await query(runner, "def (")
    assert (got.status, got.error_name) == (ExecStatus.FAILED, "SyntaxError")


async def test_a_query_timeout_interrupts_and_the_kernel_still_works(
    runner: RunnerClient,
) -> None:
    await query(runner, "y = 1")
    got = await query(runner, "while True: pass", limit=0.5)
    assert (got.status, got.error_name) == (ExecStatus.TIMED_OUT, "TimeoutError")
    # `except Exception` in user code must not swallow the interrupt either.
    got = await query(runner, "try:\n    while True: pass\nexcept Exception: pass", limit=0.5)
    assert got.status == ExecStatus.TIMED_OUT
    got = await query(runner, "print(y + 1)")
    assert (got.status, got.stdout) == (ExecStatus.FINISHED, "2\n")


async def test_batch_mode_returns_the_exit_code_and_output(runner: RunnerClient) -> None:
    got = await runner.execute(ExecMode.BATCH, "echo hi; echo oops >&2; exit 3", 10)
    assert (got.status, got.exit_code, got.stdout, got.stderr) == (
        ExecStatus.FAILED,
        3,
        "hi\n",
        "oops\n",
    )
    ok = await runner.execute(ExecMode.BATCH, "pwd; echo $HOME", 10)
    assert ok.status == ExecStatus.FINISHED
    assert ok.exit_code == 0
    workdir = ok.stdout.splitlines()[0]
    assert workdir.endswith("/work")
    assert ok.stdout.splitlines()[1] == workdir


async def test_a_batch_timeout_kills_the_whole_process_group(runner: RunnerClient) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**9}"  # unique: other test runs may share this host
    got = await runner.execute(ExecMode.BATCH, f"sleep {marker} & sleep 30", 0.5)
    assert got.status == ExecStatus.TIMED_OUT
    # The background job was in the group: it must be gone, not merely orphaned.
    check = await runner.execute(ExecMode.BATCH, f"ps -eo args | grep -c '^[s]leep {marker}'", 5)
    assert check.stdout.strip() == "0"
    assert (await query(runner, "print('alive')")).stdout == "alive\n"


async def test_concurrent_requests_are_served_one_at_a_time(runner: RunnerClient) -> None:
    results = await asyncio.gather(*(query(runner, f"n = {i}\nprint(n)") for i in range(5)))
    assert sorted(r.stdout for r in results) == [f"{i}\n" for i in range(5)]


def test_a_startup_command_runs_once_and_sets_the_exit_code(short_dir: Path) -> None:
    proc = start_runner(short_dir, "--startup-command", "echo $HOME > home.txt; exit 4")
    assert proc.wait(timeout=30) == 4
    assert (short_dir / "work" / "home.txt").read_text().strip() == str(short_dir / "work")


async def test_runs_as_a_module_too(short_dir: Path) -> None:
    proc = start_runner(short_dir, module=True)
    try:
        client = RunnerClient(short_dir / "runner.sock")
        assert (await query(client, "print(6*7)")).stdout == "42\n"
    finally:
        proc.kill()
        proc.wait()


async def test_a_pre_started_runner_runs_nothing_before_its_setup(short_dir: Path) -> None:
    proc = start_runner(short_dir, "--await-setup")
    client = RunnerClient(short_dir / "runner.sock")
    try:
        await client.wait_ready(within=30, alive=lambda: proc.poll() is None)
        with pytest.raises(Internal, match="no session yet"):
            await query(client, "print(1)")
        await client.setup({"PATH": "/usr/bin:/bin", "GREETING": "hello"})
        code = "import os; print(sorted(os.environ), os.environ['GREETING'])"
        home = str(short_dir / "work")
        assert (await query(client, code)).stdout == "['GREETING', 'HOME', 'PATH'] hello\n"
        assert (await query(client, "import os; print(os.environ['HOME'])")).stdout == f"{home}\n"
        with pytest.raises(Internal, match="set up already"):
            await client.setup({"GREETING": "again"})
        # A restart keeps the session's environment and needs no second setup.
        await client.restart(within=30, alive=lambda: proc.poll() is None)
        assert (await query(client, "import os; print(os.environ['GREETING'])")).stdout == "hello\n"
    finally:
        stop_runner(proc)
