"""The request gate in Redis: replay cache + sliding-window rate limit in one Lua script.

One round trip per request, atomic, shared by every auth replica. The window is approximated
with two fixed windows (the previous one weighted by how much of it still overlaps the sliding
window), which costs two small counters per key instead of a sorted set of every request.
"""

from __future__ import annotations

import math
from datetime import datetime

from redis.asyncio import Redis

from services.auth.domain.model import GateOutcome

# KEYS: replay key, this window's counter, the previous window's counter.
# ARGV: replay TTL (ms), limit, window (ms), time into this window (ms).
# Returns {1 allowed / 0 over the limit / -1 replayed, remaining}.
_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return {-1, 0}
end
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local elapsed = tonumber(ARGV[4])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local previous = tonumber(redis.call('GET', KEYS[3]) or '0')
local used = math.floor(previous * (window - elapsed) / window) + current
if used >= limit then
  return {0, 0}
end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 2 * window)
return {1, limit - used - 1}
"""


class RedisRequestGate:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_SCRIPT)

    async def admit(
        self,
        *,
        access_key: str,
        signature: str,
        replay_ttl: float,
        limit: int,
        window: float,
        now: datetime,
    ) -> GateOutcome:
        window_ms = max(int(window * 1000), 1)
        now_ms = int(now.timestamp() * 1000)
        index, elapsed = divmod(now_ms, window_ms)
        keys = [
            f"{self._prefix}auth:replay:{access_key}:{signature}",
            f"{self._prefix}auth:rate:{access_key}:{index}",
            f"{self._prefix}auth:rate:{access_key}:{index - 1}",
        ]
        args = [max(math.ceil(replay_ttl * 1000), 1), limit, window_ms, elapsed]
        verdict, remaining = await self._script(keys=keys, args=args)
        if int(verdict) < 0:
            return GateOutcome(replayed=True, allowed=False, remaining=0)
        return GateOutcome(replayed=False, allowed=int(verdict) == 1, remaining=int(remaining))
