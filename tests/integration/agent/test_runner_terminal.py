"""Terminals on the kernel runner as a real process: a shell on a PTY over its unix socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.agent.adapters.runner_client import RunnerClient
from services.agent.adapters.runner_terminal import RunnerTerminal
from tests.integration.agent.runner_process import short_dir, start_runner

__all__ = ["short_dir"]  # the fixture, used here


@pytest.fixture
def runner(short_dir: Path) -> Iterator[RunnerClient]:
    proc = start_runner(short_dir)
    yield RunnerClient(short_dir / "runner.sock")
    proc.kill()
    proc.wait()


async def _read_until(terminal: RunnerTerminal, wanted: bytes) -> tuple[bytes, int | None]:
    """Output until `wanted` shows (or the shell ends), and the exit code if it ended."""
    seen = b""
    async with asyncio.timeout(20):
        async for event in terminal.events():
            seen += event.data
            if event.exit_code is not None:
                return seen, event.exit_code
            if wanted in seen:
                break
    return seen, None


async def test_a_shell_answers_is_resized_and_ends_with_its_exit_code(runner):
    terminal = await runner.open_terminal(30, 100)
    try:
        await terminal.write(b"echo hi-$((6*7)); stty size\n")
        seen, _ = await _read_until(terminal, b"30 100")
        assert b"hi-42" in seen

        await terminal.resize(50, 132)
        await terminal.write(b"stty size\n")
        await _read_until(terminal, b"50 132")

        await terminal.write(b"exit 9\n")
        _, code = await _read_until(terminal, b"\0never")
        assert code == 9
    finally:
        await terminal.close()


async def test_a_shell_killed_by_a_signal_reports_128_plus_it(runner):
    terminal = await runner.open_terminal(24, 80)
    try:
        await terminal.write(b"kill -TERM $$; kill -KILL $$\n")
        _, code = await _read_until(terminal, b"\0never")
        assert code == 128 + 9
    finally:
        await terminal.close()


async def test_terminals_are_independent_and_leave_executions_working(runner):
    first, second = await runner.open_terminal(24, 80), await runner.open_terminal(24, 80)
    try:
        await first.write(b"X=one; echo first-$X\n")
        await second.write(b"echo second-${X:-unset}\n")
        assert b"first-one" in (await _read_until(first, b"first-one"))[0]
        assert b"second-unset" in (await _read_until(second, b"second-unset"))[0]
        await runner.ping()
    finally:
        await first.close()
        await second.close()
