"""What GetSession and ListSessions show beside the rows, in one Redis round trip: the last use of
the sessions with an idle timeout and the newest stats report of their running kernels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from libs.events import session_activity
from services.registry.adapters.activity import last_seen_of
from services.registry.adapters.kernel_stats_store import RedisKernelStats
from services.registry.service.idle_ports import LiveState


class RedisLiveState:
    def __init__(self, redis: Redis, stats: RedisKernelStats) -> None:
        self._redis = redis
        self._stats = stats

    async def read(self, watched: Sequence[str], kernels: Sequence[tuple[str, str]]) -> LiveState:
        if not watched and not kernels:
            return LiveState({}, {})
        activity_keys = [session_activity.activity_key(s) for s in watched]
        replies: list[Any]
        if not watched and len(kernels) == 1:
            # One command (GetSession of a session without an idle timeout): sent on its own, as
            # a pipeline costs more client CPU than the command (~50 µs, docs/performance.md).
            replies = [await self._redis.lindex(self._stats.key(kernels[0][0]), 0)]
        elif watched and not kernels:
            replies = [await self._redis.mget(activity_keys)]
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                if watched:
                    pipe.mget(activity_keys)
                for kernel_id, _ in kernels:
                    pipe.lindex(self._stats.key(kernel_id), 0)
                replies = await pipe.execute()
        seen = last_seen_of(watched, replies.pop(0)) if watched else {}
        # A kernel whose newest report came from another agent costs one more round trip.
        return LiveState(seen, await self._stats.from_newest(kernels, replies))
