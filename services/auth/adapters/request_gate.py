"""The request gate in Redis: replay cache + sliding-window rate limit in one Lua script.

Atomic and shared by every auth replica. The window is approximated with two fixed windows
(the previous one weighted by how much of it still overlaps the sliding window), which costs
two small counters per key instead of a sorted set of every request.

Concurrent Checks share round trips (libs/core/shared_round_trips.py): requests arriving while
one is in flight go together in the next run of the script (up to MAX_BATCH), which handles them
in arrival order, so two uses of one signature in a batch still see each other. Under load one
`send` and one reply serve many Checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from libs.core.shared_round_trips import SharedRoundTrips
from services.auth.domain.model import GateOutcome

# KEYS: per request, its replay key, this window's counter, the previous window's counter.
# ARGV: per request, replay TTL (ms), limit, window (ms), time into this window (ms).
# Returns per request {1 allowed / 0 over the limit / -1 replayed, remaining}, flattened.
_SCRIPT = """
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local k, a = i * 3, i * 4
  if not redis.call('SET', KEYS[k + 1], '1', 'NX', 'PX', ARGV[a + 1]) then
    out[#out + 1] = -1
    out[#out + 1] = 0
  else
    local limit = tonumber(ARGV[a + 2])
    local window = tonumber(ARGV[a + 3])
    local elapsed = tonumber(ARGV[a + 4])
    local current = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
    local previous = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
    local used = math.floor(previous * (window - elapsed) / window) + current
    if used >= limit then
      out[#out + 1] = 0
      out[#out + 1] = 0
    else
      redis.call('INCR', KEYS[k + 2])
      redis.call('PEXPIRE', KEYS[k + 2], 2 * window)
      out[#out + 1] = 1
      out[#out + 1] = limit - used - 1
    end
  end
end
return out
"""

# Bounds one script run (Redis runs nothing else meanwhile): ~10 commands per request.
MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class _Request:
    keys: tuple[str, str, str]
    args: tuple[int, int, int, int]


class RedisRequestGate:
    def __init__(self, redis: Redis, *, prefix: str, max_batch: int = MAX_BATCH) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_SCRIPT)
        self._trips = SharedRoundTrips(self._run, max_batch=max_batch, name="auth-request-gate")

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
        index, elapsed = divmod(int(now.timestamp() * 1000), window_ms)
        rate = f"{self._prefix}auth:rate:{access_key}:"
        request = _Request(
            keys=(
                f"{self._prefix}auth:replay:{access_key}:{signature}",
                f"{rate}{index}",
                f"{rate}{index - 1}",
            ),
            args=(max(math.ceil(replay_ttl * 1000), 1), limit, window_ms, elapsed),
        )
        # A Redis error refuses every Check of its batch (503), as each was refused on its own.
        return await self._trips.submit(request)

    async def _run(self, batch: list[_Request]) -> list[GateOutcome]:
        keys = [key for request in batch for key in request.keys]
        args = [arg for request in batch for arg in request.args]
        flat = await self._evaluate(keys, args)
        return [
            GateOutcome(replayed=True, allowed=False, remaining=0)
            if int(flat[2 * i]) < 0
            else GateOutcome(
                replayed=False, allowed=int(flat[2 * i]) == 1, remaining=int(flat[2 * i + 1])
            )
            for i in range(len(batch))
        ]

    async def _evaluate(self, keys: list[str], args: list[int]) -> list[int]:
        # EVALSHA straight away; a Redis that lost its scripts (restart, SCRIPT FLUSH) gets the
        # whole script once, which EVAL also caches for the next batch.
        sha = self._script.sha
        try:
            reply = await self._redis.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            reply = await self._redis.eval(_SCRIPT, len(keys), *keys, *args)
        return list(reply)
