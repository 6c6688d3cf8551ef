"""Publishing to a Redis stream: entries are `{id: <event id>, data: <protobuf bytes>}`, the
shape every consumer in `streams.py` reads."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis


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

    async def publish_together(self, events: Sequence[tuple[str, bytes]]) -> list[str]:
        """Append `(event id, data)` pairs in order, in one MULTI/EXEC: all or none, and a
        reader blocked on the stream is woken once, with all of them (after a plain pipeline's
        first XADD Redis may already serve it that entry alone)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for event_id, data in events:
                pipe.xadd(
                    self._stream,
                    {"id": event_id, "data": data},
                    maxlen=self._maxlen,
                    approximate=True,
                )
            ids = await pipe.execute()
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
