"""Dead letters: entries a consumer group gave up on, listed and replayed by an admin.

A consumer parks an entry that keeps failing while its dependencies are healthy (a poison
message, rule R-OUTAGE-BACKOFF) in `<stream>:dead:<group>`, with why. `replay` puts a parked entry
back on its stream and removes it from the dead letters in one Redis script, so that a replay
that is retried, or two admins replaying at once, re-publish it exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from libs.core.dead_letter import DeadLetter

DEAD_SUFFIX = ":dead:"
MAX_ERROR_CHARS = 512

# KEYS[1] dead-letter stream, KEYS[2] source stream; ARGV[1] dead entry id, ARGV[2] source maxlen.
_REPLAY = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields = found[1][2]
local event_id, data = '', ''
for i = 1, #fields, 2 do
  if fields[i] == 'id' then event_id = fields[i + 1] end
  if fields[i] == 'data' then data = fields[i + 1] end
end
local new_id = redis.call(
  'XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'id', event_id, 'data', data)
redis.call('XDEL', KEYS[1], ARGV[1])
return new_id
"""


def dead_letter_stream(stream: str, group: str) -> str:
    return f"{stream}{DEAD_SUFFIX}{group}"


def _text(fields: dict[bytes, bytes], key: bytes) -> str:
    return fields.get(key, b"").decode(errors="replace")


def _letter(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    failures = _text(fields, b"failures")
    return DeadLetter(
        entry_id=eid,
        event_id=_text(fields, b"id"),
        source_entry_id=_text(fields, b"source_entry"),
        error=_text(fields, b"error"),
        failures=int(failures) if failures.isdigit() else 0,
        size_bytes=len(fields.get(b"data", b"")),
    )


class DeadLetterQueue:
    """The dead letters of one consumer group on one stream."""

    def __init__(self, redis: Redis, stream: str, group: str, *, maxlen: int = 100_000) -> None:
        self._redis = redis
        self.stream = stream
        self.group = group
        self.dead_stream = dead_letter_stream(stream, group)
        self._maxlen = maxlen
        self._replay = redis.register_script(_REPLAY)

    async def park(
        self, event_id: str, data: bytes, source_entry_id: str, error: str, failures: int
    ) -> None:
        """Move a pending entry of the group here: the copy and the ack commit together."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.dead_stream,
                {
                    "id": event_id,
                    "data": data,
                    "source_entry": source_entry_id,
                    "error": error[:MAX_ERROR_CHARS],
                    "failures": str(failures),
                },
                maxlen=10_000,
                approximate=True,
            )
            pipe.xack(self.stream, self.group, source_entry_id)
            await pipe.execute()

    async def entries(self, *, after: str = "", count: int = 50) -> list[DeadLetter]:
        """Oldest first, starting after entry id `after` (exclusive; "" from the start)."""
        start = f"({after}" if after else "-"
        items: Any = await self._redis.xrange(self.dead_stream, min=start, max="+", count=count)
        return [_letter(i, f) for i, f in items]

    async def count(self) -> int:
        return int(await self._redis.xlen(self.dead_stream))

    async def replay(self, entry_ids: Iterable[str]) -> dict[str, str | None]:
        """Each id -> the new entry id on the source stream, or None if it is not (any longer)
        a dead letter (already replayed, or never was)."""
        done: dict[str, str | None] = {}
        for entry_id in entry_ids:
            if entry_id in done:
                continue
            new_id: Any = await self._replay(
                keys=[self.dead_stream, self.stream], args=[entry_id, self._maxlen]
            )
            done[entry_id] = (
                None if not new_id else new_id.decode() if isinstance(new_id, bytes) else new_id
            )
        return done

    async def replay_all(self, *, batch: int = 256) -> dict[str, str | None]:
        """Replay every entry parked when the call starts (later ones are left for a next call)."""
        last: Any = await self._redis.xrevrange(self.dead_stream, count=1)
        if not last:
            return {}
        newest = last[0][0].decode() if isinstance(last[0][0], bytes) else str(last[0][0])
        done: dict[str, str | None] = {}
        after = ""
        while True:
            start = f"({after}" if after else "-"
            items: Any = await self._redis.xrange(
                self.dead_stream, min=start, max=newest, count=batch
            )
            if not items:
                return done
            ids = [i.decode() if isinstance(i, bytes) else str(i) for i, _ in items]
            done.update(await self.replay(ids))
            after = ids[-1]
