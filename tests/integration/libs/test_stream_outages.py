"""Consumers under outages, poison messages, dead letters and their replay (real Redis/PG)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.events.backoff import Backoff
from libs.events.dead_letters import DeadLetterQueue
from libs.events.stream_publisher import StreamPublisher
from libs.events.streams import StreamConsumer
from tests.conftest import ADMIN_PG_URL

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg(url: str) -> AsyncEngine:
    return create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))


class Database:
    """A handler's database: PostgreSQL, or a port nothing listens on while "down"."""

    def __init__(self) -> None:
        self.up = _pg(ADMIN_PG_URL)
        self.down = _pg(f"postgresql://postgres@127.0.0.1:{_free_port()}/test")
        self.available = False
        self.applied: list[str] = []
        self.calls = 0

    async def handler(self, event_id: str, data: bytes) -> None:
        self.calls += 1
        engine = self.up if self.available else self.down
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        self.applied.append(event_id)

    async def close(self) -> None:
        await self.up.dispose()
        await self.down.dispose()


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    db = Database()
    yield db
    await db.close()


class Sleeps:
    """Records the consumer's back-off pauses; brings the dependency back after `until` pauses."""

    def __init__(self, until: int, database: Database | None = None) -> None:
        self.delays: list[float] = []
        self._until = until
        self._database = database
        self.done = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) >= self._until:
            if self._database is not None:
                self._database.available = True
            self.done.set()
        await asyncio.sleep(0)


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - the consumer runs in its own task, polled here
            await asyncio.sleep(0.01)


async def test_a_database_outage_is_waited_out_and_never_parks_the_backlog(
    redis: Redis, key_prefix: str, database: Database
) -> None:
    stream = f"{key_prefix}s"
    pub = StreamPublisher(redis, stream)
    sleeps = Sleeps(until=25, database=database)  # far more than max_failures outage failures
    consumer = StreamConsumer(
        redis,
        stream,
        "g",
        "c",
        database.handler,
        block_ms=10,
        max_failures=3,
        backoff=Backoff(base=0.01, cap=0.1, floor=0.01, rand=lambda: 1.0),  # no jitter: delays grow
        sleep=sleeps,
    )
    for i in range(20):
        await pub.publish(f"e{i}", b"x")
    task = asyncio.create_task(consumer.run())
    try:
        await _until(lambda: len(database.applied) == 20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert database.applied == [f"e{i}" for i in range(20)]
    assert await redis.xlen(consumer.dead_letter_stream) == 0
    assert (await redis.xpending(stream, "g"))["pending"] == 0
    # No tight loop: every failed attempt was followed by a pause, and the pauses grew.
    assert database.calls - 20 == len(sleeps.delays) == 25
    assert sleeps.delays[-1] > sleeps.delays[0]


async def test_a_failing_health_probe_makes_a_failure_an_outage(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    healthy = False
    seen: list[str] = []

    async def handler(event_id: str, data: bytes) -> None:
        if not healthy:
            raise RuntimeError("could not apply: the store said no")
        seen.append(event_id)

    async def probe() -> bool:
        return healthy

    class Recover(Sleeps):
        async def __call__(self, delay: float) -> None:
            nonlocal healthy
            await super().__call__(delay)
            healthy = len(self.delays) >= 8

    consumer = StreamConsumer(
        redis,
        stream,
        "g",
        "c",
        handler,
        block_ms=10,
        max_failures=2,
        healthy=probe,
        backoff=Backoff(base=0.01, cap=0.05, floor=0.01),
        sleep=Recover(until=8),
    )
    await StreamPublisher(redis, stream).publish("e0", b"x")
    task = asyncio.create_task(consumer.run())
    try:
        await _until(lambda: seen == ["e0"])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert await redis.xlen(consumer.dead_letter_stream) == 0


async def _park_one(redis: Redis, stream: str, event_id: str) -> StreamConsumer:
    async def poison(event_id: str, data: bytes) -> None:
        raise ValueError(f"cannot decode {event_id}")

    consumer = StreamConsumer(
        redis, stream, "g", "c", poison, block_ms=10, claim_idle_ms=0, max_failures=2
    )
    await consumer.ensure_group()
    await StreamPublisher(redis, stream).publish(event_id, b"payload")
    await consumer.read_new()
    await consumer.reclaim_abandoned()
    return consumer


async def test_a_poison_message_is_parked_with_its_reason(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}s"
    await _park_one(redis, stream, "bad")
    queue = DeadLetterQueue(redis, stream, "g")
    [letter] = await queue.entries()
    assert (letter.event_id, letter.failures, letter.size_bytes) == ("bad", 2, 7)
    assert letter.error == "ValueError: cannot decode bad"
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_a_replayed_dead_letter_goes_back_exactly_once(redis: Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}s"
    await _park_one(redis, stream, "bad")
    queue = DeadLetterQueue(redis, stream, "g")
    [letter] = await queue.entries()
    before = await redis.xlen(stream)

    first, again = await asyncio.gather(
        queue.replay([letter.entry_id]), queue.replay([letter.entry_id])
    )

    replayed = [r[letter.entry_id] for r in (first, again) if r[letter.entry_id]]
    assert len(replayed) == 1
    assert await redis.xlen(stream) == before + 1
    assert await queue.count() == 0
    fixed: list[str] = []

    async def handler(event_id: str, data: bytes) -> None:
        fixed.append(event_id)

    await StreamConsumer(redis, stream, "g", "c2", handler, block_ms=10).read_new()
    assert fixed == ["bad"]


async def test_replay_all_takes_every_parked_entry_and_unknown_ids_are_reported(
    redis: Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}s"
    for i in range(3):
        await _park_one(redis, stream, f"bad{i}")
    queue = DeadLetterQueue(redis, stream, "g")
    assert await queue.replay(["1-0"]) == {"1-0": None}
    done = await queue.replay_all(batch=2)
    assert len(done) == 3 and all(done.values())
    assert await queue.count() == 0


@contextlib.contextmanager
def _private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (scripts/system-packages)")
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(10)


async def _wait_ping(redis: Redis) -> None:
    async with asyncio.timeout(10):
        while True:
            with contextlib.suppress(Exception):
                if await redis.ping():
                    return
            await asyncio.sleep(0.05)


async def test_after_a_redis_restart_that_kept_nothing_the_group_is_recreated() -> None:
    port = _free_port()
    redis = Redis(host="127.0.0.1", port=port, socket_timeout=2)
    seen: list[str] = []

    async def handler(event_id: str, data: bytes) -> None:
        seen.append(event_id)

    consumer = StreamConsumer(
        redis,
        "s",
        "g",
        "c",
        handler,
        block_ms=20,
        backoff=Backoff(base=0.02, cap=0.2, floor=0.02),
    )
    try:
        with _private_redis(port):
            await _wait_ping(redis)
            task = asyncio.create_task(consumer.run())
            await StreamPublisher(redis, "s").publish("before", b"x")
            await _until(lambda: seen == ["before"])
        with _private_redis(port):  # the same port, empty: no stream, no group
            await _wait_ping(redis)
            await StreamPublisher(redis, "s").publish("after", b"x")
            await _until(lambda: seen == ["before", "after"])
            assert consumer.outages >= 1
            groups = await redis.xinfo_groups("s")
            assert [g["name"] for g in groups] == [b"g"]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await redis.aclose()
