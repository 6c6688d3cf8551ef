"""User lifecycle events: commit→watcher latency, and a session's history replay on a long stream.

    .venv/bin/python -m bench.user_events [--sessions 300] [--history 50000] [--watchers 20]

On a fresh database and its own Redis prefix, with one outbox relay running as in the registry:
(1) `--watchers` WatchEvents watches (as a domain admin, so each sees every event) follow while
`--sessions` sessions are created one per transaction; each session_enqueued is timed from its
commit to its arrival at every watcher. (2) The user stream is padded to `--history` entries and
one session's WatchSessionEvents replay (its history, from its creation time) is timed. Figures
are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import time

from redis.asyncio import Redis

from libs.core.identity import Caller, Role
from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from services.registry.adapters.lifecycle_store import SqlLifecycleStore
from services.registry.adapters.outbox_relay import OutboxRelay
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.adapters.user_events import RedisUserEvents
from services.registry.app import MIGRATIONS
from services.registry.service.watch_events import EventFilter, WatchUserEvents
from tests.conftest import REDIS_URL, create_database, drop_database
from tests.integration.registry.factories import new_session


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    db_name, url = await create_database()
    prefix = f"bench-user-events-{secrets.token_hex(3)}:"
    redis = Redis.from_url(REDIS_URL)
    engine = create_engine(url, pool_size=8)
    try:
        await upgrade(url, MIGRATIONS, "registry")
        factory = session_factory(engine)
        store = SqlSessionStore(factory)
        log = RedisUserEvents(redis, prefix)
        watch = WatchUserEvents(store, log)
        relay = OutboxRelay(engine, factory, redis, prefix)
        relaying = asyncio.create_task(relay.run())
        admin = Caller(user_id="bench", role=Role.ADMIN, domain_name="default")
        committed: dict[str, float] = {}
        latencies: list[float] = []
        start = await log.position()

        async def watcher() -> None:
            seen = 0
            async for event in watch.all(admin, EventFilter(), start):
                latencies.append(max(0.0, time.perf_counter() - committed[event.session_id]))
                seen += 1
                if seen == args.sessions:
                    return

        watchers = [asyncio.create_task(watcher()) for _ in range(args.watchers)]
        await asyncio.sleep(0.2)  # every watch is reading before the first commit
        for _ in range(args.sessions):
            new = new_session()
            committed[new.session_id] = time.perf_counter()  # before: a watch may be faster
            await store.add(new)
        async with asyncio.timeout(60):
            await asyncio.gather(*watchers)

        # A long history, then one session's replay from its creation time.
        pipe = redis.pipeline(transaction=False)
        for i in range(args.history):
            pipe.xadd(log.stream, {"id": f"pad-{i}", "data": b""})
        await pipe.execute()
        session, _ = await store.add(new_session())
        await SqlLifecycleStore(factory).begin_destroy(
            session.session_id, forced=False, reason="user-requested"
        )
        await relay.drain()
        owner = Caller(user_id=session.owner_user_id, access_key=session.access_key)
        began = time.perf_counter()
        names = [e.name async for e in watch.session(owner, session.session_id, "")]
        replay = time.perf_counter() - began
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relaying

        ms = [x * 1000 for x in latencies]
        print(f"{args.sessions} sessions created, {args.watchers} watchers, 1 relay")
        print(
            f"commit->watcher ms: p50 {statistics.median(ms):.1f} "
            f"p99 {_pct(ms, 0.99):.1f} max {max(ms):.1f}"
        )
        print(f"replay of one session ({names}) after {args.history} other entries: ", end="")
        print(f"{replay * 1000:.1f} ms")
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await engine.dispose()
        await drop_database(db_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--history", type=int, default=50_000)
    parser.add_argument("--watchers", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
