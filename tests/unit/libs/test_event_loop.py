"""Which event loop a service runs on (libs/core/event_loop.py)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import uvloop

from libs.core import event_loop


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_services_run_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.ENV, raising=False)

    assert event_loop.run(_loop_type()) is uvloop.Loop


def test_the_standard_loop_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, " AsyncIO ")

    loop_type: type = event_loop.run(_loop_type())

    assert issubclass(loop_type, asyncio.BaseEventLoop)
    assert loop_type.__module__.startswith("asyncio.")


def test_an_unknown_loop_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, "trio")
    main = _loop_type()
    assert inspect.iscoroutine(main)

    with pytest.raises(ValueError, match="SHIPYARD_EVENT_LOOP must be one of uvloop, asyncio"):
        event_loop.run(main)

    assert inspect.getcoroutinestate(main) == inspect.CORO_CLOSED  # not left un-awaited
