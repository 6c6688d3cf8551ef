"""Last heartbeat per agent in a Redis hash (rule R-HEARTBEAT-OFF-DB), swept without races.

The sweep only reads; an entry is removed after the agent's loss has committed in PostgreSQL,
and only if it still holds the value the sweep saw (compare-and-delete in one Lua script), so a
heartbeat that lands meanwhile survives and a failed `mark_lost` is simply retried next sweep
(rule R-SWEEP).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from redis.asyncio import Redis

from services.registry.service.ports import Beat

# KEYS[1] the hash; ARGV pairs (agent id, value seen): delete each entry still holding it.
_FORGET = """
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return removed
"""

# KEYS[1] the hash; ARGV[1] the time, then the agent ids: give each id without an entry one,
# and return those ids (one round trip for a whole fleet, every sweep).
_FIRST_SIGHT = """
local added = {}
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1]) == 1 then
    table.insert(added, ARGV[i])
  end
end
return added
"""

# KEYS[1] the hash; ARGV[1] the cutoff: the (id, value) pairs older than it, in one snapshot.
_STALE = """
local found = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < tonumber(ARGV[1]) then
    table.insert(found, all[i])
    table.insert(found, all[i + 1])
  end
end
return found
"""


class RedisHeartbeatClock:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._key = f"{prefix}agent-heartbeats"
        self._forget = redis.register_script(_FORGET)
        self._stale = redis.register_script(_STALE)
        self._first_sight = redis.register_script(_FIRST_SIGHT)

    async def beat(self, agent_id: str, now: datetime) -> None:
        await self._redis.hset(self._key, agent_id, repr(now.timestamp()))

    async def beat_many(self, agent_ids: Sequence[str], now: datetime) -> None:
        """Many agents' heartbeats with one write (HeartbeatBatch)."""
        if agent_ids:
            stamp = repr(now.timestamp())  # the same text as `beat`: the sweep compares it
            await self._redis.hset(self._key, mapping=dict.fromkeys(agent_ids, stamp))

    async def first_sight(self, agent_ids: Sequence[str], now: datetime) -> list[str]:
        """Give agents without an entry (Redis lost its data) one dated now; return them."""
        if not agent_ids:
            return []
        added = await self._first_sight(keys=[self._key], args=[repr(now.timestamp()), *agent_ids])
        return [_text(a) for a in added]

    async def stale(self, older_than: datetime) -> list[Beat]:
        flat = await self._stale(keys=[self._key], args=[repr(older_than.timestamp())])
        values = [_text(v) for v in flat]
        return [Beat(agent_id=values[i], value=values[i + 1]) for i in range(0, len(values), 2)]

    async def forget(self, beats: Sequence[Beat]) -> int:
        if not beats:
            return 0
        args: list[str] = []
        for b in beats:
            args += [b.agent_id, b.value]
        return int(await self._forget(keys=[self._key], args=args))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
