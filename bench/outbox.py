"""The registry's outbox relay: backlog throughput and commit→stream latency (rule R-OUTBOX).

    .venv/bin/python -m bench.outbox [--backlog 50000] [--seconds 5] [--writers 8] [--relays 1]

On a fresh database and its own Redis prefix it (1) fills the outbox with `--backlog` events
(batches of 100 per transaction) and times how fast `--relays` relays publish them, then (2)
runs `--writers` tasks that commit one-event transactions as fast as they can for `--seconds`
while the relays run as in the registry (woken by NOTIFY), and times each event from its
commit to its arrival on the stream. Figures are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import time

from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from libs.events.streams import last_entry_id
from services.registry.adapters.outbox import enqueued_event, stage
from services.registry.adapters.outbox_relay import OutboxRelay
from services.registry.app import MIGRATIONS
from tests.conftest import REDIS_URL, create_database, drop_database


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _fill(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    per_tx = 100
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> None:
        async with gate, sessions.begin() as db:
            await stage(db, [enqueued_event(f"backlog-{i}") for i in range(n)])

    await asyncio.gather(
        *(one(min(per_tx, count - i)) for i in range(0, count, per_tx)),
    )


async def _backlog(relays: list[OutboxRelay], count: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(r.drain() for r in relays))
    elapsed = time.perf_counter() - started
    published = sum(r.published for r in relays)
    if published != count:
        raise RuntimeError(f"published {published} of {count}")
    return count / elapsed


async def _latency(
    sessions: async_sessionmaker[AsyncSession],
    relays: list[OutboxRelay],
    redis: Redis,
    stream: str,
    seconds: float,
    writers: int,
) -> tuple[int, float, list[float]]:
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    position = await last_entry_id(redis, stream)
    running = [asyncio.create_task(r.run()) for r in relays]
    stop = time.perf_counter() + seconds
    writing_done = False
    caught_up = asyncio.Event()

    async def writer(w: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            marker = f"w{w}-{n}"
            n += 1
            async with sessions.begin() as db:
                await stage(db, [enqueued_event(marker)])
            committed[marker] = time.perf_counter()

    async def reader() -> None:
        nonlocal position
        while True:
            resp = await redis.xread({stream: position}, count=1000, block=200)
            now = time.perf_counter()
            for _, items in resp or []:
                for entry_id, fields in items:
                    position = entry_id
                    event = events_pb2.Event.FromString(fields[b"data"])
                    arrived.setdefault(event.session_enqueued.session_id, now)
            if writing_done and committed.keys() <= arrived.keys():
                caught_up.set()

    reading = asyncio.create_task(reader())
    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    wrote_for = time.perf_counter() - started
    writing_done = True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(caught_up.wait(), 10)
    for task in [*running, reading]:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    missing = set(committed) - set(arrived)
    if missing:
        raise RuntimeError(f"{len(missing)} committed events never reached the stream")
    # An event can arrive before its writer records the commit time: count that as 0.
    latencies = [max(0.0, arrived[m] - committed[m]) * 1000 for m in committed]
    return len(committed), len(committed) / wrote_for, latencies


async def main(args: argparse.Namespace) -> None:
    db_name, url = await create_database()
    prefix = f"bench-outbox-{secrets.token_hex(3)}:"
    redis = Redis.from_url(REDIS_URL)
    engine = create_engine(url, pool_size=args.writers + 2 * args.relays + 2)
    try:
        await upgrade(url, MIGRATIONS, "registry")
        sessions = session_factory(engine)
        relays = [OutboxRelay(engine, sessions, redis, prefix) for _ in range(args.relays)]
        await _fill(sessions, args.backlog)
        rate = await _backlog(relays, args.backlog)
        count, produced, latencies = await _latency(
            sessions, relays, redis, relays[0].stream("cluster"), args.seconds, args.writers
        )
        print(f"backlog: {args.backlog} events, {args.relays} relay(s)")
        print(f"relay events/s: {rate:.0f}")
        print(f"sustained: {count} one-event commits at {produced:.0f}/s by {args.writers} writers")
        print(
            "commit->stream ms: "
            f"p50 {statistics.median(latencies):.1f} "
            f"p99 {_pct(latencies, 0.99):.1f} max {max(latencies):.1f}"
        )
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await engine.dispose()
        await drop_database(db_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--relays", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
