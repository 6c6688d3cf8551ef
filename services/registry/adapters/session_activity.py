"""The registry's view of session use: executions touch the shared activity key."""

from __future__ import annotations

from redis.asyncio import Redis

from libs.events import session_activity


class RedisSessionActivity:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def touch(self, session_id: str) -> None:
        await session_activity.touch(self._redis, session_id)
