"""Stopping a service's background tasks ends, even when one of them will not."""

from __future__ import annotations

import asyncio
import logging

import pytest

from libs.core.tasks import cancel_all, spawn


async def _forever() -> None:
    await asyncio.Event().wait()


async def _stubborn(release: asyncio.Event) -> None:
    """Swallows its cancellation and keeps waiting, as a library's clean-up can."""
    try:
        await _forever()
    except asyncio.CancelledError:
        await release.wait()


async def test_a_task_that_ignores_cancellation_does_not_hold_the_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    polite = spawn(_forever(), "polite")
    stubborn = spawn(_stubborn(release), "stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING):
        await cancel_all([polite, stubborn], grace=0.2)
    assert polite.cancelled()
    assert not stubborn.done()
    assert "stubborn did not stop" in caplog.text
    release.set()  # what closing its client does in a real stop
    await stubborn
    assert stubborn.done()


async def test_tasks_that_end_are_all_awaited() -> None:
    finished: list[str] = []

    async def tidy(name: str) -> None:
        try:
            await _forever()
        finally:
            await asyncio.sleep(0.01)
            finished.append(name)

    tasks = [spawn(tidy(n), n) for n in ("a", "b")]
    await asyncio.sleep(0)
    await cancel_all(tasks)
    assert sorted(finished) == ["a", "b"]
    assert all(t.cancelled() for t in tasks)
