"""Redis Streams: publish, consume in a group (at least once), tail for broadcast.

Entries are `{id: <event id>, data: <protobuf bytes>}`. Consumers ack after the handler
succeeds; entries a crashed consumer left pending are reclaimed by the others after
`claim_idle`. Handlers must be idempotent; `processed` markers skip exact redeliveries; an entry
whose handler keeps failing is moved to `<stream>:dead:<group>` after `max_failures` tries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StreamEntry:
    entry_id: str
    event_id: str
    data: bytes


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> StreamEntry:
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return StreamEntry(eid, fields.get(b"id", b"").decode(), fields.get(b"data", b""))


class StreamPublisher:
    def __init__(self, redis: Redis, stream: str, *, maxlen: int = 100_000) -> None:
        self._redis = redis
        self._stream = stream
        self._maxlen = maxlen

    async def publish(self, event_id: str, data: bytes) -> str:
        entry_id = await self._redis.xadd(
            self._stream, {"id": event_id, "data": data}, maxlen=self._maxlen, approximate=True
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


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
        self.dead_letter_stream = f"{stream}:dead:{group}"

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Consume until cancelled: own pending entries first, then reclaimed, then new."""
        await self.ensure_group()
        await self.drain_own_pending()
        while True:
            await self.reclaim_abandoned()
            await self.read_new()

    async def drain_own_pending(self) -> None:
        """Entries delivered to this consumer name before a crash and never acked."""
        while True:
            resp: Any = await self._redis.xreadgroup(
                self._group, self._consumer, {self._stream: "0"}, count=self._batch
            )
            entries = [_entry(i, f) for _, items in resp or [] for i, f in items]
            if not entries:
                return
            await self._handle_all(entries)

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
            marker = f"{self._stream}:processed:{self._group}:{entry.event_id}"
            if entry.event_id and await self._redis.exists(marker):
                await self._redis.xack(self._stream, self._group, entry.entry_id)
                continue
            try:
                await self._handler(entry.event_id, entry.data)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Left pending: redelivered to us on restart, or reclaimed by a peer; an entry
                # that keeps failing is parked in the dead-letter stream so it cannot loop forever.
                log.exception("handler failed for %s entry %s", self._stream, entry.entry_id)
                await self._count_failure(entry)
                continue
            self._failures.pop(entry.entry_id, None)
            if entry.event_id:
                await self._redis.set(marker, 1, ex=self._processed_ttl_s)
            await self._redis.xack(self._stream, self._group, entry.entry_id)

    async def _count_failure(self, entry: StreamEntry) -> None:
        failures = self._failures.get(entry.entry_id, 0) + 1
        if failures < self._max_failures:
            self._failures[entry.entry_id] = failures
            return
        self._failures.pop(entry.entry_id, None)
        log.error("parking %s entry %s after %d failures", self._stream, entry.entry_id, failures)
        await self._redis.xadd(
            self.dead_letter_stream,
            {"id": entry.event_id, "data": entry.data, "source_entry": entry.entry_id},
            maxlen=10_000,
            approximate=True,
        )
        await self._redis.xack(self._stream, self._group, entry.entry_id)


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
        resp: Any = await redis.xread({stream: position}, count=256, block=block_ms)
        for _, items in resp or []:
            for entry_id, fields in items:
                entry = _entry(entry_id, fields)
                position = entry.entry_id
                yield entry
