"""A cancelled loop ends even when `asyncio.wait_for` lost the cancellation (rule R-LOST-CANCEL)."""

from __future__ import annotations

import asyncio

from libs.core.tasks import stop_if_cancelled


async def _ended_before_going_on(task: asyncio.Task[None], went_on: asyncio.Event) -> bool:
    """Whether `task` ended before it started another round after its cancellation."""
    going_on = asyncio.create_task(went_on.wait())
    await asyncio.wait([task, going_on], return_when=asyncio.FIRST_COMPLETED)
    going_on.cancel()
    return task.done()


async def test_a_stop_that_wait_for_lost_still_ends_the_loop() -> None:
    writable = asyncio.Event()
    written = asyncio.Event()
    went_on = asyncio.Event()

    async def send() -> None:  # a client writing one command, as redis-py does under wait_for
        await writable.wait()
        writable.clear()
        written.set()

    async def serve() -> None:
        rounds = 0
        while True:
            stop_if_cancelled()
            if rounds:
                went_on.set()
            await asyncio.wait_for(send(), 5)
            rounds += 1

    task = asyncio.create_task(serve())
    try:
        writable.set()
        await written.wait()
        # The send has finished but wait_for has not resumed yet: on Python 3.11 it then
        # returns normally and the cancellation is lost, leaving only `cancelling()` set.
        task.cancel()
        assert await _ended_before_going_on(task, went_on), "the loop went on after its stop"
        assert task.cancelled()
    finally:
        task.cancel()
        await asyncio.wait([task])
