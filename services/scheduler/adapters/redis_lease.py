"""The leader lease in Redis: SET NX PX to take it, compare-and-extend / compare-and-delete.

Each tenure gets an epoch, strictly greater than every earlier one: the previous epoch plus
one, or Redis's clock in microseconds if that is larger (so epochs keep growing after Redis
loses its data). Binds carry it; the registry refuses older ones (rule R-FENCED-BIND).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from libs.core.errors import Unavailable

# Take a free lease and start a new tenure: returns its epoch, or 0 when someone else holds it.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local now = redis.call('TIME')
  local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local epoch = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, clock)
  redis.call('SET', KEYS[2], string.format('%d', epoch))
  return string.format('%d', epoch)
end
return '0'
"""
# Only the holder may extend or delete: a lease that expired and was taken over stays taken.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseUnavailable(Unavailable):
    reason = "LEADER_LEASE_UNAVAILABLE"


class RedisLease:
    def __init__(self, redis: Redis, *, key: str, owner: str, ttl: float) -> None:
        self._redis = redis
        self._key = key
        self._owner = owner
        self._ttl_ms = max(1, int(ttl * 1000))
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._epoch = 0
        self._release = redis.register_script(_RELEASE)

    @property
    def key(self) -> str:
        return self._key

    @property
    def epoch(self) -> int:
        """The epoch of the tenure that the last successful acquire started (0 before)."""
        return self._epoch

    async def acquire(self) -> bool:
        try:
            raw = await self._acquire(
                keys=[self._key, f"{self._key}:epoch"], args=[self._owner, self._ttl_ms]
            )
        except RedisError as exc:
            raise LeaseUnavailable(f"cannot reach Redis for the leader lease: {exc}") from exc
        epoch = int(raw.decode() if isinstance(raw, bytes) else raw)
        if epoch > 0:
            self._epoch = epoch
            return True
        # Still ours (e.g. one renewal failed and we stepped down): extend instead of waiting;
        # the tenure, and with it the epoch, goes on.
        return await self.renew()

    async def renew(self) -> bool:
        return bool(await self._run(self._renew, self._ttl_ms))

    async def release(self) -> None:
        await self._run(self._release)

    async def holder(self) -> str | None:
        """Who holds the lease now (for logs and tests)."""
        try:
            value = await self._redis.get(self._key)
        except RedisError as exc:
            raise LeaseUnavailable(f"cannot reach Redis for the leader lease: {exc}") from exc
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def _run(self, script: AsyncScript, *args: int) -> Any:
        try:
            return await script(keys=[self._key], args=[self._owner, *args])
        except RedisError as exc:
            raise LeaseUnavailable(f"cannot reach Redis for the leader lease: {exc}") from exc
