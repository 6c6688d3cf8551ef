"""Redis Streams: consume in a group (at least once), tail for broadcast (publishing:
`stream_publisher.py`).

Entries are `{id: <event id>, data: <protobuf bytes>}`. Consumers ack after the handler
succeeds; entries a crashed consumer left pending are reclaimed by the others once idle
`claim_idle` (each member looks for them every half of that, not before every read).
Handlers must be idempotent; `processed` markers skip exact redeliveries.

Outages and poison are told apart (rule R-OUTAGE-BACKOFF in docs/reliability.md): a handler
failing because a dependency is unreachable (`outage.is_outage`, or the `healthy` probe says
so), or Redis itself failing, stops the batch, leaves its entries pending and uncounted, and
the consumer backs off (`backoff.Backoff`) before it reads again, recreating its group if Redis
lost it. Only an entry whose handler fails while dependencies are healthy counts a failure;
after `max_failures` it is parked in `<stream>:dead:<group>` (`dead_letters`), from where an
admin can replay it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from libs.core.tasks import stop_if_cancelled
from libs.events.backoff import Backoff
from libs.events.dead_letters import DeadLetterQueue
from libs.events.outage import is_outage

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None]]
HealthProbe = Callable[[], Awaitable[bool]]


class DependencyOutage(Exception):
    """A handler failed because a dependency is down: its entry waits, uncounted."""


@dataclass(frozen=True, slots=True)
class StreamEntry:
    entry_id: str
    event_id: str
    data: bytes


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> StreamEntry:
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return StreamEntry(eid, fields.get(b"id", b"").decode(), fields.get(b"data", b""))


class StreamConsumer:
    """A member of a consumer group.

    `consumer` must be stable across restarts (rule R-STABLE-NAMES in docs/reliability.md).
    """

    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        block_ms: int = 1000,
        batch: int = 64,
        claim_idle_ms: int = 30_000,
        processed_ttl_s: int = 24 * 3600,
        max_failures: int = 10,
        healthy: HealthProbe | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._handler = handler
        self._block_ms = block_ms
        self._batch = batch
        self._claim_idle_ms = claim_idle_ms
        self._processed_ttl_s = processed_ttl_s
        self._max_failures = max_failures
        self._failures: dict[str, int] = {}
        self._healthy = healthy
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self.dead_letters = DeadLetterQueue(redis, stream, group)
        self.dead_letter_stream = self.dead_letters.dead_stream
        self.outages = 0  # how many times the loop backed off (observability, tests)

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Consume until cancelled: own pending entries first, then reclaimed, then new.

        Survives outages: while Redis or a handler's dependency is down it backs off and tries
        again; it never re-reads in a tight loop. Ends when cancelled, even if a Redis call
        lost the cancellation (rule R-LOST-CANCEL).
        """
        while True:
            try:
                stop_if_cancelled()
                await self.ensure_group()
                await self.drain_own_pending()
                next_reclaim = 0.0
                while True:
                    stop_if_cancelled()
                    # An entry becomes claimable only after claim_idle_ms: looking for them
                    # twice in that time is enough, and spares every read a round trip.
                    if time.monotonic() >= next_reclaim:
                        await self.reclaim_abandoned()
                        next_reclaim = time.monotonic() + self._claim_idle_ms / 2000
                    await self.read_new()
                    self._backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._is_redis_trouble(exc):
                    raise
                await self._wait_out(exc)

    async def _wait_out(self, exc: BaseException) -> None:
        self.outages += 1
        delay = self._backoff.next_delay()
        log.warning(
            "%s consumer %s: dependency unavailable (%s); retrying in %.2fs",
            self._stream,
            self._consumer,
            exc.__cause__ or exc,
            delay,
        )
        await self._sleep(delay)

    @staticmethod
    def _is_redis_trouble(exc: BaseException) -> bool:
        if isinstance(exc, DependencyOutage) or is_outage(exc):
            return True
        # NOGROUP: Redis restarted without its data and the group is gone; recreate it.
        return isinstance(exc, ResponseError) and "NOGROUP" in str(exc)

    async def drain_own_pending(self) -> None:
        """Entries delivered to this consumer name before a crash and never acked.

        Walks the pending list once, from the oldest: an entry that fails again stays pending
        for a later reclaim instead of being re-read at once.
        """
        position = "0"
        while True:
            resp: Any = await self._redis.xreadgroup(
                self._group, self._consumer, {self._stream: position}, count=self._batch
            )
            entries = [_entry(i, f) for _, items in resp or [] for i, f in items]
            if not entries:
                return
            await self._handle_all(entries)
            position = entries[-1].entry_id

    async def reclaim_abandoned(self) -> int:
        """Take over entries other consumers left pending longer than claim_idle_ms."""
        claimed = 0
        start = "0-0"
        while True:
            resp: Any = await self._redis.xautoclaim(
                self._stream,
                self._group,
                self._consumer,
                min_idle_time=self._claim_idle_ms,
                start_id=start,
                count=self._batch,
            )
            next_start, items = resp[0], resp[1]
            entries = [_entry(i, f) for i, f in items if f]
            if entries:
                log.info("reclaimed %d abandoned entries from %s", len(entries), self._stream)
                await self._handle_all(entries)
                claimed += len(entries)
            start = next_start.decode() if isinstance(next_start, bytes) else next_start
            if start == "0-0":
                return claimed

    async def read_new(self) -> int:
        resp: Any = await self._redis.xreadgroup(
            self._group,
            self._consumer,
            {self._stream: ">"},
            count=self._batch,
            block=self._block_ms,
        )
        entries = [_entry(i, f) for _, items in resp or [] for i, f in items]
        await self._handle_all(entries)
        return len(entries)

    async def _handle_all(self, entries: list[StreamEntry]) -> None:
        for entry in entries:
            stop_if_cancelled()  # a stopped consumer hands no further entry to its handler
            marker = self.marker(entry)
            if entry.event_id and await self._redis.exists(marker):
                await self._redis.xack(self._stream, self._group, entry.entry_id)
                continue
            try:
                await self._handler(entry.event_id, entry.data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if await self._during_outage(exc):
                    # Not the entry's fault: it stays pending, uncounted, and the rest of the
                    # batch waits with it until the dependency is back.
                    raise DependencyOutage(str(exc)) from exc
                # Left pending: redelivered to us on restart, or reclaimed by a peer; an entry
                # that keeps failing is parked in the dead-letter stream so it cannot loop forever.
                log.exception("handler failed for %s entry %s", self._stream, entry.entry_id)
                await self._count_failure(entry, exc)
                continue
            self._failures.pop(entry.entry_id, None)
            # Marker, then ack, in one round trip (the marker first: an ack never goes out
            # without it, so a redelivery after a lost reply is still skipped).
            async with self._redis.pipeline(transaction=False) as pipe:
                if entry.event_id:
                    pipe.set(marker, 1, ex=self._processed_ttl_s)
                pipe.xack(self._stream, self._group, entry.entry_id)
                await pipe.execute()

    def marker(self, entry: StreamEntry) -> str:
        """The key that says `entry`'s event was handled (skips exact redeliveries)."""
        return f"{self._stream}:processed:{self._group}:{entry.event_id}"

    async def _during_outage(self, exc: Exception) -> bool:
        if is_outage(exc):
            return True
        if self._healthy is None:
            return False
        try:
            return not await self._healthy()
        except asyncio.CancelledError:
            raise
        except Exception:
            return True  # a probe that cannot even run means a dependency is in trouble

    async def _count_failure(self, entry: StreamEntry, exc: Exception) -> None:
        failures = self._failures.get(entry.entry_id, 0) + 1
        if failures < self._max_failures:
            self._failures[entry.entry_id] = failures
            return
        self._failures.pop(entry.entry_id, None)
        log.error("parking %s entry %s after %d failures", self._stream, entry.entry_id, failures)
        await self.dead_letters.park(
            entry.event_id, entry.data, entry.entry_id, f"{type(exc).__name__}: {exc}", failures
        )


async def last_entry_id(redis: Redis, stream: str) -> str:
    """The id of the newest entry ("0-0" for an empty stream): a position to tail from."""
    items: Any = await redis.xrevrange(stream, count=1)
    if not items:
        return "0-0"
    eid = items[0][0]
    return eid.decode() if isinstance(eid, bytes) else str(eid)


async def tail(
    redis: Redis, stream: str, after: str, *, block_ms: int = 1000
) -> AsyncIterator[StreamEntry]:
    """Every entry after `after`, forever (broadcast: no group, no acks)."""
    position = after
    while True:
        stop_if_cancelled()  # rule R-LOST-CANCEL: a stop lost in XREAD, or by the reader
        resp: Any = await redis.xread({stream: position}, count=256, block=block_ms)
        for _, items in resp or []:
            for entry_id, fields in items:
                stop_if_cancelled()
                entry = _entry(entry_id, fields)
                position = entry.entry_id
                yield entry
