"""Grouping a stream of cluster changes into batches of what is already waiting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.registry.service.ports import ClusterChange

# Changes per watch message at most.
WATCH_BATCH = 1000


async def batches(changes: AsyncIterator[ClusterChange]) -> AsyncIterator[list[ClusterChange]]:
    """Group what is already waiting: a reader task fills a queue, each batch drains it."""
    queue: asyncio.Queue[ClusterChange | BaseException] = asyncio.Queue(maxsize=WATCH_BATCH * 4)

    async def read() -> None:
        try:
            async for change in changes:
                await queue.put(change)
        except Exception as exc:  # handed to the consumer, which raises it
            await queue.put(exc)

    reader = asyncio.create_task(read(), name="watch-reader")
    try:
        while True:
            batch = [await queue.get()]
            while len(batch) < WATCH_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            changes_only: list[ClusterChange] = []
            for item in batch:
                if isinstance(item, BaseException):
                    raise item
                changes_only.append(item)
            yield changes_only
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
