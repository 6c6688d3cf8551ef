"""Session activity in Redis (libs/core/session_activity.py), as the registry records it."""

from __future__ import annotations

from redis.asyncio import Redis

from libs.core import session_activity


class RedisSessionActivity:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def touch(self, session_id: str) -> None:
        await session_activity.touch(self._redis, session_id)
