"""What a write transaction costs the registry's process, with and without the pool's ping.

    .venv/bin/python -m bench.write_txn [--transactions 500] [--rounds 4]

On a fresh database it runs `--transactions` write transactions one after the other (the outbox
insert every state change stages, with its user-event read: `stage` in
`services/registry/adapters/outbox.py`), first on an engine configured as before
(`pool_pre_ping=True`: BEGIN, an empty query and ROLLBACK before each transaction) and then on
`libs/db/engine.py`'s (no ping; the checkout looks at the connection's closed state),
alternating for `--rounds` rounds. It prints, per transaction, this
process's CPU time (user + system, which other load on the machine hardly changes) and the
wall-clock time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.core.ids import new_id
from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from services.registry.adapters.outbox import enqueued_event, stage
from services.registry.app import MIGRATIONS
from tests.conftest import create_database, drop_database


async def _run(engine: AsyncEngine, count: int) -> tuple[float, float]:
    """CPU ms and wall ms per transaction."""
    sessions = session_factory(engine)
    async with sessions.begin() as db:  # the connection exists before timing starts
        await stage(db, [enqueued_event(new_id())])
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        async with sessions.begin() as db:
            await stage(db, [enqueued_event(new_id())])
    return (
        (time.process_time() - cpu) * 1000 / count,
        (time.perf_counter() - wall) * 1000 / count,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    name, url = await create_database()
    try:
        await upgrade(url, MIGRATIONS, "registry")
        pinged = create_async_engine(url, pool_size=2, pool_pre_ping=True)
        checked = create_engine(url, pool_size=2)
        figures: dict[str, list[tuple[float, float]]] = {"pre-ping": [], "closed-state check": []}
        for _ in range(args.rounds):
            figures["pre-ping"].append(await _run(pinged, args.transactions))
            figures["closed-state check"].append(await _run(checked, args.transactions))
        await pinged.dispose()
        await checked.dispose()
    finally:
        await drop_database(name)
    for label, runs in figures.items():
        cpu = ", ".join(f"{c:.2f}" for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"{label}: CPU ms per transaction {cpu} (rounds); wall median {wall:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
