"""A consumer group member that hands each read to its handler as one batch.

For handlers that do per-call work worth sharing (one database transaction for many events):
the entries of one XREADGROUP (or reclaim) go to `batch_handler` together, their `processed`
markers are checked and set, and the entries acked, in one Redis round trip each. If the batch
handler fails while dependencies are healthy, the batch is handled again one entry at a time
through the plain handler, so a poisoned entry is counted and parked alone (rule
R-OUTAGE-BACKOFF) and the others are still applied; during an outage the whole batch waits,
pending and uncounted, as with `StreamConsumer`. The batch handler must change nothing when it
raises (one transaction), and both handlers must be idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from typing_extensions import override

from libs.core.tasks import stop_if_cancelled
from libs.events.streams import DependencyOutage, Handler, StreamConsumer, StreamEntry

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[tuple[str, bytes]]], Awaitable[None]]


class BatchStreamConsumer(StreamConsumer):
    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        batch_handler: BatchHandler,
        **options: Any,
    ) -> None:
        super().__init__(redis, stream, group, consumer, handler, **options)
        self._batch_handler = batch_handler

    @override
    async def _handle_all(self, entries: list[StreamEntry]) -> None:
        stop_if_cancelled()  # rule R-LOST-CANCEL, as for single entries
        if len(entries) < 2:
            await super()._handle_all(entries)
            return
        fresh = await self._skip_processed(entries)
        if not fresh:
            return
        try:
            await self._batch_handler([(e.event_id, e.data) for e in fresh])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if await self._during_outage(exc):
                raise DependencyOutage(str(exc)) from exc
            log.warning(
                "a batch of %d %s entries failed (%s); handling them one by one",
                len(fresh),
                self._stream,
                exc,
            )
            await super()._handle_all(fresh)
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in fresh:
                self._failures.pop(entry.entry_id, None)
                if entry.event_id:
                    pipe.set(self.marker(entry), 1, ex=self._processed_ttl_s)
            pipe.xack(self._stream, self._group, *(e.entry_id for e in fresh))
            await pipe.execute()

    async def _skip_processed(self, entries: list[StreamEntry]) -> list[StreamEntry]:
        """Ack the entries whose event was handled before; the others, in order."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.exists(self.marker(entry))
            seen = await pipe.execute()
        done = [e for e, s in zip(entries, seen, strict=True) if s and e.event_id]
        if done:
            await self._redis.xack(self._stream, self._group, *(e.entry_id for e in done))
        return [e for e in entries if e not in done]
