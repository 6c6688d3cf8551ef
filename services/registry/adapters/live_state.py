"""What GetSession and ListSessions show beside the rows, in one Redis round trip: the last use of
the sessions with an idle timeout and the newest stats report of their running kernels.

Concurrent reads share round trips (libs/core/shared_round_trips.py): the reads that arrive
while one is in flight are merged into the next, and each gets back its own sessions and kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from libs.core.shared_round_trips import SharedRoundTrips
from libs.events import session_activity
from services.registry.adapters.activity import last_seen_of
from services.registry.adapters.kernel_stats_store import RedisKernelStats
from services.registry.service.idle_ports import LiveState

MAX_BATCH = 64  # reads merged into one round trip
_Wanted = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]  # (watched sessions, kernels)


class RedisLiveState:
    def __init__(self, redis: Redis, stats: RedisKernelStats) -> None:
        self._redis = redis
        self._stats = stats
        self._trips: SharedRoundTrips[_Wanted, LiveState] = SharedRoundTrips(
            self._read_batch, max_batch=MAX_BATCH, name="registry-live-state"
        )

    async def read(self, watched: Sequence[str], kernels: Sequence[tuple[str, str]]) -> LiveState:
        if not watched and not kernels:
            return LiveState({}, {})
        return await self._trips.submit((tuple(watched), tuple(kernels)))

    async def _read_batch(self, batch: list[_Wanted]) -> list[LiveState]:
        if len(batch) == 1:
            return [await self._read(*batch[0])]
        merged = await self._read(
            list(dict.fromkeys(s for watched, _ in batch for s in watched)),
            list(dict.fromkeys(k for _, kernels in batch for k in kernels)),
        )
        seen, stats = merged.last_seen, merged.stats
        return [
            LiveState(
                {s: seen[s] for s in watched if s in seen},
                {k: stats[k] for k, _ in kernels if k in stats},
            )
            for watched, kernels in batch
        ]

    async def _read(self, watched: Sequence[str], kernels: Sequence[tuple[str, str]]) -> LiveState:
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
