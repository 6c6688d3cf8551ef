"""Polled runs (the unary continue / input protocol) on a real kernel runner process."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.core.errors import InvalidArgument, NotFound
from services.agent.adapters.runner_client import RunnerClient
from services.agent.adapters.runner_session import RunnerSession
from services.agent.domain.model import ExecMode, ExecStatus
from services.agent.service.polled_runs import PolledRuns
from tests.integration.agent.runner_process import short_dir, start_runner

__all__ = ["short_dir"]
KID = "00000000-0000-4000-8000-000000000001"


class OneKernel:
    """LiveExecute's `open`, for the one runner of this test."""

    def __init__(self, client: RunnerClient) -> None:
        self.client = client

    async def open(self, kernel_id: str) -> RunnerSession:
        assert kernel_id == KID
        return await self.client.open_session()


@pytest.fixture
def runner(short_dir: Path) -> Iterator[tuple[RunnerClient, subprocess.Popen[bytes]]]:
    proc = start_runner(short_dir)
    yield RunnerClient(short_dir / "runner.sock"), proc
    proc.kill()
    proc.wait()


async def test_a_run_continues_until_it_ends_then_its_id_is_gone(
    runner: tuple[RunnerClient, subprocess.Popen[bytes]],
) -> None:
    client, proc = runner
    await client.wait_ready(within=10, alive=lambda: proc.poll() is None)
    now = [0.0]
    runs = PolledRuns(OneKernel(client), idle_ttl=60, clock=lambda: now[0])  # type: ignore[arg-type]
    code = "import time\ntime.sleep(1.5)\nprint('done')"
    got = await runs.start(KID, ExecMode.QUERY, code, 30, 0.3)
    assert (got.status, got.stdout) == (ExecStatus.CONTINUED, "")
    run_id = got.run_id
    async with asyncio.timeout(60):  # a guard against a run that never ends, not a speed check
        while got.status is ExecStatus.CONTINUED:
            got = await runs.resume(KID, run_id, 0.3)
            assert got.run_id == run_id
    assert (got.status, got.stdout) == (ExecStatus.FINISHED, "done\n")
    with pytest.raises(NotFound, match=run_id):
        await runs.resume(KID, run_id, 0.3)
    with pytest.raises(InvalidArgument, match="run_id"):
        await runs.resume(KID, "", 0.3)

    # A run nobody polls for longer than the idle TTL is forgotten.
    got = await runs.start(KID, ExecMode.BATCH, "sleep 5", 30, 0.2)
    assert got.status is ExecStatus.CONTINUED
    with pytest.raises(InvalidArgument, match="not waiting for input"):
        await runs.resume(KID, got.run_id, 0.2, "an answer nobody asked for")
    now[0] += 61
    with pytest.raises(NotFound):
        await runs.resume(KID, got.run_id, 0.2)
    await runs.close()
