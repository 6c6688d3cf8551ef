"""The outbox relay: publishes committed outbox rows to their Redis streams, at least once.

Every replica may run one (rule R-OUTBOX). A batch is claimed with `FOR UPDATE SKIP LOCKED`
(replicas take disjoint batches), published with one Redis script call and deleted in the same
transaction: a Redis error or a crash before the commit leaves the rows for the next attempt, so
an event may be published twice but never lost (consumers are idempotent by event id). The relay
wakes on `NOTIFY` from the staging transactions and, as a safety net, polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.registry.adapters.outbox import NOTIFY_CHANNEL
from services.registry.adapters.tables import SCHEMA, ConsumedEventRow

log = logging.getLogger(__name__)

_CLAIM = text(
    f"DELETE FROM {SCHEMA}.outbox WHERE id IN ("
    f"SELECT id FROM {SCHEMA}.outbox ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
    ") RETURNING id, event_id, stream, payload"
)
STREAM_MAXLEN = 100_000
# One command per batch, not one per event: redis-py's per-reply overhead (a timeout armed per
# reply read) cost more than the XADDs. KEYS: the streams; ARGV: maxlen, then (index of the
# stream in KEYS, event id, payload) for each event, in order.
_XADD_ALL = """
for i = 2, #ARGV, 3 do
  local stream = KEYS[tonumber(ARGV[i])]
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'id', ARGV[i + 1], 'data', ARGV[i + 2])
end
return 0
"""
# How long consumed-event ids are kept: far longer than any redelivery can be late.
CONSUMED_RETENTION = timedelta(days=2)
PRUNE_INTERVAL = 3600.0  # seconds between prunes of consumed-event ids


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        prefix: str,
        *,
        batch: int = 1000,
        poll_interval: float = 0.5,
        max_backoff: float = 5.0,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._redis = redis
        self._prefix = prefix
        self._batch = batch
        self._poll = poll_interval
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._xadd_all = redis.register_script(_XADD_ALL)
        self.published = 0

    def stream(self, logical: str) -> str:
        return f"{self._prefix}events:{logical}"

    async def relay_once(self) -> int:
        """Publish one batch; the number of events published (0 when the outbox is empty)."""
        async with self._sessions.begin() as db:
            rows = sorted((await db.execute(_CLAIM, {"n": self._batch})).all(), key=lambda r: r.id)
            if not rows:
                return 0
            streams = sorted({self.stream(row.stream) for row in rows})
            index = {name: i for i, name in enumerate(streams, start=1)}
            args: list[str | bytes | int] = [STREAM_MAXLEN]
            for row in rows:
                args += (index[self.stream(row.stream)], row.event_id, row.payload)
            await self._xadd_all(keys=streams, args=args)
        self.published += len(rows)
        return len(rows)

    async def drain(self) -> int:
        """Publish until the outbox is empty; the number published."""
        total = 0
        while n := await self.relay_once():
            total += n
        return total

    async def prune_consumed(self, now: datetime | None = None) -> None:
        cutoff = (now or datetime.now(UTC)) - CONSUMED_RETENTION
        async with self._sessions.begin() as db:
            await db.execute(delete(ConsumedEventRow).where(ConsumedEventRow.consumed_at < cutoff))

    async def run(self) -> None:
        """Relay until cancelled; a database or Redis outage is waited out with backoff."""
        backoff = self._poll
        while True:
            try:
                async with self._engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    driver: Any = raw.driver_connection
                    await driver.add_listener(NOTIFY_CHANNEL, self._notified)
                    try:
                        backoff = self._poll
                        await self._loop()
                    finally:
                        # The connection goes back to the pool: it must not keep our listener.
                        with contextlib.suppress(Exception):
                            await driver.remove_listener(NOTIFY_CHANNEL, self._notified)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay: %s; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _loop(self) -> None:
        next_prune = 0.0
        while True:
            if time.monotonic() >= next_prune:
                await self.prune_consumed()
                next_prune = time.monotonic() + PRUNE_INTERVAL
            self._wake.clear()
            if await self.relay_once() >= self._batch:
                continue
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # arrives as a NOTIFY wakes us, and the relay would then outlive its registry.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()

    def _notified(self, *_: object) -> None:
        self._wake.set()
