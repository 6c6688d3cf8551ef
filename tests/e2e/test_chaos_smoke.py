"""The chaos benchmark's harness, small: real services on a private PostgreSQL and Redis, an
agent and the scheduling leader killed -9 while batch sessions are submitted through the edge."""

from __future__ import annotations

import pytest

from bench.chaos.run import Options, chaos

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
async def test_kill_9_of_an_agent_and_the_scheduler_loses_and_duplicates_nothing() -> None:
    opts = Options(
        sessions=20,
        seed=3,
        agents=2,
        alive=4,  # a few waves, so that the kills land while sessions are in flight
        faults=["agent-1", "scheduler-1"],
        fault_pause=(1.0, 2.0),
        quiet_timeout=90.0,
    )
    result = await chaos(opts)

    assert [line for line in result.faults.lines if "kill -9" in line], result.faults.lines
    assert len(result.failovers) == 1  # the leader was killed and another replica took over
    assert result.verdict.acknowledged == 20
    assert result.verdict.lost == []
    assert result.verdict.duplicated == []
