"""The leader lease in Redis: SET NX PX to take it, compare-and-extend / compare-and-delete."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from libs.core.errors import Unavailable

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
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def key(self) -> str:
        return self._key

    async def acquire(self) -> bool:
        try:
            if await self._redis.set(self._key, self._owner, nx=True, px=self._ttl_ms):
                return True
        except RedisError as exc:
            raise LeaseUnavailable(f"cannot reach Redis for the leader lease: {exc}") from exc
        # Still ours (e.g. one renewal failed and we stepped down): extend instead of waiting.
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
