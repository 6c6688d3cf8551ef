"""Sessions' last use in Redis (libs/events/session_activity.py), and the idle checkers' lease."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from libs.events import session_activity

# Renew the lease only if we still hold it; a value is our holder name.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisActivity:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def touch(self, session_id: str) -> None:
        await session_activity.touch(self._redis, session_id)

    async def last_seen_many(self, session_ids: Sequence[str]) -> dict[str, datetime]:
        if not session_ids:
            return {}
        keys = [session_activity.activity_key(s) for s in session_ids]
        return last_seen_of(session_ids, await self._redis.mget(keys))


def last_seen_of(
    session_ids: Sequence[str], values: Sequence[bytes | str | None]
) -> dict[str, datetime]:
    """Each session's last use from its activity key's value (`MGET`, in the same order)."""
    return {
        sid: datetime.fromtimestamp(float(raw), UTC)
        for sid, raw in zip(session_ids, values, strict=True)
        if raw is not None
    }


class RedisCheckerLease:
    """One replica runs the idle checkers: whoever holds `key` (renewed every round)."""

    def __init__(self, redis: Redis, key: str, holder: str, ttl: float) -> None:
        self._redis = redis
        self._key = key
        self._holder = holder
        self._ttl_ms = max(int(ttl * 1000), 1000)

    async def hold(self) -> bool:
        if await self._redis.set(self._key, self._holder, nx=True, px=self._ttl_ms):
            return True
        renewed = await self._redis.eval(_RENEW, 1, self._key, self._holder, self._ttl_ms)
        return bool(renewed)
