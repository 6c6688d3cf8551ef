"""Redis Streams delivery against the real Redis: groups, duplicates, reclaim."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.asyncio import Redis

from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import StreamConsumer, last_entry_id, tail
from tests.unit.scheduler.factories import wait_until

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.seen: list[str] = []
        self._fail = fail_first

    async def __call__(self, event_id: str, data: bytes) -> None:
        if self._fail:
            self._fail -= 1
            raise RuntimeError("handler crashed")
        self.seen.append(event_id)


async def test_each_event_reaches_one_group_member_once(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    a, b = Recorder(), Recorder()
    ca = StreamConsumer(redis, stream, "g", "a", a, block_ms=10)
    cb = StreamConsumer(redis, stream, "g", "b", b, block_ms=10)
    await ca.ensure_group()
    for i in range(10):
        await pub.publish(f"e{i}", b"x")
    await ca.read_new()
    await cb.read_new()
    assert sorted(a.seen + b.seen) == sorted(f"e{i}" for i in range(10))


async def test_a_redelivered_event_is_applied_once(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    rec = Recorder()
    consumer = StreamConsumer(redis, stream, "g", "a", rec, block_ms=10)
    await consumer.ensure_group()
    # At-least-once producers may publish the same event twice (e.g. a retry after a timeout).
    await pub.publish("same-event", b"x")
    await pub.publish("same-event", b"x")
    await consumer.read_new()
    assert rec.seen == ["same-event"]
    pending = await redis.xpending(stream, "g")
    assert pending["pending"] == 0


async def test_entries_of_a_crashed_consumer_are_reclaimed(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    crashed = Recorder(fail_first=3)
    survivor = Recorder()
    dead = StreamConsumer(redis, stream, "g", "dead", crashed, block_ms=10)
    alive = StreamConsumer(redis, stream, "g", "alive", survivor, block_ms=10, claim_idle_ms=50)
    await dead.ensure_group()
    for i in range(3):
        await pub.publish(f"e{i}", b"x")
    await dead.read_new()  # delivered to "dead", whose handler fails: nothing acked
    assert crashed.seen == []
    await asyncio.sleep(0.1)  # let the entries become idle longer than claim_idle_ms
    claimed = await alive.reclaim_abandoned()
    assert claimed == 3
    assert survivor.seen == ["e0", "e1", "e2"]
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_a_restarted_consumer_finishes_its_own_pending_entries(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    first = StreamConsumer(redis, stream, "g", "node-1", Recorder(fail_first=1), block_ms=10)
    await first.ensure_group()
    await pub.publish("e0", b"x")
    await first.read_new()
    again = Recorder()
    # Same stable consumer name after a restart: it picks up what it left.
    restarted = StreamConsumer(redis, stream, "g", "node-1", again, block_ms=10)
    await restarted.drain_own_pending()
    assert again.seen == ["e0"]


async def test_tail_sees_only_entries_after_the_position(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    await pub.publish("old", b"1")
    position = await last_entry_id(redis, stream)
    await pub.publish("new", b"2")
    follower = tail(redis, stream, position, block_ms=10)
    entry = await asyncio.wait_for(anext(follower), 5)
    assert entry.event_id == "new" and entry.data == b"2"
    await follower.aclose()


async def test_an_entry_that_keeps_failing_is_parked_not_retried_forever(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    poison = Recorder(fail_first=100)
    consumer = StreamConsumer(
        redis, stream, "g", "a", poison, block_ms=10, claim_idle_ms=0, max_failures=3
    )
    await consumer.ensure_group()
    await pub.publish("poison", b"x")
    await consumer.read_new()  # failure 1
    await consumer.reclaim_abandoned()  # failure 2
    await consumer.reclaim_abandoned()  # failure 3: parked
    assert (await redis.xpending(stream, "g"))["pending"] == 0
    [(_, fields)] = await redis.xrange(consumer.dead_letter_stream)
    assert fields[b"id"] == b"poison"


class CountingReclaims(StreamConsumer):
    reclaims = 0

    async def reclaim_abandoned(self) -> int:
        self.reclaims += 1
        return await super().reclaim_abandoned()


async def test_a_running_member_reads_events_without_looking_for_abandoned_ones_each_time(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    rec = Recorder()
    # Entries become claimable only after a minute: one look at start-up is all it needs here.
    consumer = CountingReclaims(redis, stream, "g", "a", rec, block_ms=10, claim_idle_ms=60_000)
    task = asyncio.create_task(consumer.run())
    try:
        for i in range(5):
            await pub.publish(f"e{i}", b"x")
            await wait_until(lambda i=i: len(rec.seen) == i + 1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert rec.seen == [f"e{i}" for i in range(5)]
    assert consumer.reclaims == 1
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_a_running_member_still_takes_over_what_a_crashed_one_left(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    dead = StreamConsumer(redis, stream, "g", "dead", Recorder(fail_first=2), block_ms=10)
    await dead.ensure_group()
    await pub.publish("e0", b"x")
    await pub.publish("e1", b"x")
    await dead.read_new()  # delivered to "dead", whose handler fails: nothing acked
    survivor = Recorder()
    alive = StreamConsumer(redis, stream, "g", "alive", survivor, block_ms=10, claim_idle_ms=100)
    task = asyncio.create_task(alive.run())
    try:
        await wait_until(lambda: survivor.seen == ["e0", "e1"])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (await redis.xpending(stream, "g"))["pending"] == 0
