"""Execute records the session's use for the idle checker: as the code starts, and again as it
ends when the run was long, without the reply waiting for either record."""

from __future__ import annotations

import asyncio

import pytest

from services.registry.domain.model import ExecMode, ExecOutcome
from services.registry.service import execute
from services.registry.service.execute import Execute
from tests.unit.registry.test_access import OWNER
from tests.unit.registry.test_open_terminal import _running, _Store
from tests.unit.registry.test_session_files import _Clock


class _Agents:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def execute(self, address: str, kernel_id: str, *_: object) -> ExecOutcome:
        self.calls.append((address, kernel_id, "run"))
        return ExecOutcome(status="finished", stdout="42\n", stderr="", exit_code=0)


async def _run(clock: _Clock) -> tuple[ExecOutcome, _Agents]:
    agents = _Agents()
    run = Execute(_Store(_running()), None, agents, clock)  # type: ignore[arg-type]
    outcome = await run(OWNER, "s1", ExecMode.QUERY, "print(6*7)", None)
    for _ in range(3):  # the records are written in the background
        await asyncio.sleep(0)
    return outcome, agents


async def test_a_short_run_is_recorded_once() -> None:
    clock = _Clock()
    outcome, agents = await _run(clock)
    assert outcome.stdout == "42\n"
    assert agents.calls == [("10.0.0.5:6001", "k1", "run")]
    assert clock.touched == ["s1"]


async def test_a_long_run_is_recorded_again_as_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute, "TOUCH_AGAIN_AFTER", 0.0)  # every run counts as long
    clock = _Clock()
    await _run(clock)
    assert clock.touched == ["s1", "s1"]
