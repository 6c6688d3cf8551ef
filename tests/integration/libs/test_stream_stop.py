"""A stopped consumer or tail ends, even when its cancellation was lost (rule R-LOST-CANCEL).

Python 3.11's `asyncio.wait_for`, through which redis-py sends every command, returns normally
when the cancellation lands just after the command was written; under CPU load that left the
outage test's consumer running after `task.cancel()`, and the test waiting for it for ever. The
handlers here lose the cancellation the same way, but deterministically: parked until cancelled,
they then return as if nothing happened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from libs.events.batch_consumer import BatchStreamConsumer
from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import Handler, StreamConsumer, tail

pytestmark = pytest.mark.integration


async def _lose_the_stop(parked: asyncio.Event) -> None:
    """Wait to be cancelled, then return normally: the cancellation is lost."""
    parked.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


async def _stop(task: asyncio.Task[None], parked: asyncio.Event, went_on: asyncio.Event) -> bool:
    """Cancel `task` once it is parked; whether it ended before doing anything more."""
    await parked.wait()
    task.cancel()
    going_on = asyncio.create_task(went_on.wait())
    await asyncio.wait([task, going_on], return_when=asyncio.FIRST_COMPLETED)
    going_on.cancel()
    ended = task.done()
    while not task.done():  # the bug: stop it for good, the tests share one event loop
        task.cancel()  # (each cancellation can be lost again)
        await asyncio.wait([task], timeout=0.5)
    return ended and task.cancelled()


async def _publish(redis: Redis, stream: str, *event_ids: str) -> None:
    for event_id in event_ids:
        await StreamPublisher(redis, stream).publish(event_id, b"x")


def _recorder(handled: list[str], parked: asyncio.Event, went_on: asyncio.Event) -> Handler:
    async def handler(event_id: str, data: bytes) -> None:
        handled.append(event_id)
        if event_id == "e0":
            await _lose_the_stop(parked)
        else:
            went_on.set()

    return handler


async def test_a_consumer_stops_when_a_call_lost_its_cancellation(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    await _publish(redis, stream, "e0", "e1", "e2")
    handled: list[str] = []
    parked, went_on = asyncio.Event(), asyncio.Event()
    handler = _recorder(handled, parked, went_on)
    task = asyncio.create_task(StreamConsumer(redis, stream, "g", "c", handler).run())

    assert await _stop(task, parked, went_on), "the consumer went on after it was stopped"
    assert handled == ["e0"]
    # Nothing is lost: the same consumer, run again, takes what it had read but not handled.
    await StreamConsumer(redis, stream, "g", "c", handler).drain_own_pending()
    assert handled == ["e0", "e1", "e2"]
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_a_batch_consumer_stops_when_a_call_lost_its_cancellation(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    await _publish(redis, stream, "e0")
    handled: list[str] = []
    parked, went_on = asyncio.Event(), asyncio.Event()
    handler = _recorder(handled, parked, went_on)

    async def batch(events: Sequence[tuple[str, bytes]]) -> None:
        went_on.set()

    consumer = BatchStreamConsumer(redis, stream, "g", "c", handler, batch, block_ms=10)
    task = asyncio.create_task(consumer.run())
    await parked.wait()
    await _publish(redis, stream, "e1", "e2")  # a batch the stopped consumer must not take

    assert await _stop(task, parked, went_on), "the consumer went on after it was stopped"
    assert handled == ["e0"]


async def test_a_tail_ends_when_its_reader_lost_the_cancellation(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    await _publish(redis, stream, "e0", "e1")
    seen: list[str] = []
    parked, went_on = asyncio.Event(), asyncio.Event()

    async def read() -> None:
        async for entry in tail(redis, stream, "0-0", block_ms=10):
            seen.append(entry.event_id)
            if entry.event_id == "e0":
                await _lose_the_stop(parked)
            else:
                went_on.set()

    assert await _stop(asyncio.create_task(read()), parked, went_on), "the tail went on"
    assert seen == ["e0"]
