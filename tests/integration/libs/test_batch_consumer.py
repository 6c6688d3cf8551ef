"""A consumer that hands each read to one batch handler, against the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from libs.events.batch_consumer import BatchStreamConsumer
from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import DependencyOutage

pytestmark = pytest.mark.integration


class Handlers:
    """A batch handler that fails while `broken`, and the one-entry handler it falls back to."""

    def __init__(self, *, broken: bool = False, poison: bytes = b"") -> None:
        self.broken = broken
        self.poison = poison
        self.batches: list[list[str]] = []
        self.one_by_one: list[str] = []

    async def batch(self, entries: Sequence[tuple[str, bytes]]) -> None:
        if self.broken or any(data == self.poison for _, data in entries):
            raise RuntimeError("the batch failed")
        self.batches.append([event_id for event_id, _ in entries])

    async def one(self, event_id: str, data: bytes) -> None:
        if data == self.poison:
            raise RuntimeError("poisoned")
        self.one_by_one.append(event_id)


async def _consumer(
    redis: Redis, stream: str, handlers: Handlers, *, healthy: bool = True
) -> BatchStreamConsumer:
    async def probe() -> bool:
        return healthy

    consumer = BatchStreamConsumer(
        redis, stream, "g", "a", handlers.one, handlers.batch, block_ms=10, healthy=probe
    )
    await consumer.ensure_group()
    return consumer


async def test_one_read_is_one_batch_and_a_repeat_is_skipped(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}batch"
    handlers = Handlers()
    consumer = await _consumer(redis, stream, handlers)
    pub = StreamPublisher(redis, stream)
    for event_id in ("e1", "e2", "e3"):
        await pub.publish(event_id, b"x")
    await consumer.read_new()
    await pub.publish("e2", b"x")  # published again after it was handled
    await pub.publish("e4", b"x")
    await consumer.read_new()

    assert handlers.batches == [["e1", "e2", "e3"], ["e4"]]
    assert handlers.one_by_one == []
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_a_failed_batch_is_handled_one_by_one(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}batch"
    handlers = Handlers(poison=b"poison")
    consumer = await _consumer(redis, stream, handlers)
    pub = StreamPublisher(redis, stream)
    for event_id, data in (("e1", b"x"), ("bad", b"poison"), ("e3", b"x")):
        await pub.publish(event_id, data)
    await consumer.read_new()

    assert handlers.one_by_one == ["e1", "e3"]
    pending = await redis.xpending_range(stream, "g", min="-", max="+", count=10)
    assert len(pending) == 1  # the poisoned entry, for a retry and then the dead letters


async def test_during_an_outage_the_batch_waits_uncounted(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}batch"
    handlers = Handlers(broken=True)
    consumer = await _consumer(redis, stream, handlers, healthy=False)
    pub = StreamPublisher(redis, stream)
    for event_id in ("e1", "e2"):
        await pub.publish(event_id, b"x")

    with pytest.raises(DependencyOutage):
        await consumer.read_new()

    assert handlers.one_by_one == []
    assert (await redis.xpending(stream, "g"))["pending"] == 2
    assert await redis.xlen(consumer.dead_letter_stream) == 0


async def test_entries_published_together_reach_a_waiting_reader_as_one_batch(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}batch"
    handlers = Handlers()
    consumer = BatchStreamConsumer(
        redis, stream, "g", "a", handlers.one, handlers.batch, block_ms=5000
    )
    await consumer.ensure_group()
    reader = asyncio.create_task(consumer.read_new())
    await asyncio.sleep(0.2)  # the reader waits in XREADGROUP (on a connection of its own)

    await StreamPublisher(redis, stream).publish_together([("e1", b"x"), ("e2", b"y")])

    assert await reader == 2
    assert handlers.batches == [["e1", "e2"]]
    assert (await redis.xpending(stream, "g"))["pending"] == 0
