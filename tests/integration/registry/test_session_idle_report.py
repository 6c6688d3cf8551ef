"""GetSession's idle time left, read from the real Redis: sessions with an idle timeout use their
last activity, the others show none (and need no lookup)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from libs.events import session_activity
from services.registry.adapters.kernel_stats_store import RedisKernelStats
from services.registry.adapters.live_state import RedisLiveState
from services.registry.domain.model import SessionType, Status
from services.registry.service.queries import SessionQueries
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session

pytestmark = pytest.mark.integration


async def test_idle_time_left_follows_the_last_activity_of_watched_sessions(
    stores: Stores, redis: Redis, key_prefix: str
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=300)
    history = {Status.RUNNING.value: started}
    base = [
        replace(
            (await stores.sessions.add(new_session()))[0],
            status=Status.RUNNING,
            status_history=history,
            idle_timeout=600,
        )
        for _ in range(3)
    ]
    watched = base[0]
    unwatched = replace(base[1], idle_timeout=0)
    batch = replace(base[2], session_type=SessionType.BATCH)
    for s in (watched, unwatched, batch):
        await session_activity.touch(redis, s.session_id, at=time.time() - 100)
    stats = RedisKernelStats(redis, key_prefix, stores.factory)
    queries = SessionQueries(stores.sessions, RedisLiveState(redis, stats))

    reports, _ = await queries.live([watched, unwatched, batch])

    left = reports[watched.session_id].idle_remaining
    assert left is not None and timedelta(seconds=480) < left <= timedelta(seconds=500)
    assert reports[unwatched.session_id].idle_remaining is None
    assert reports[batch.session_id].idle_remaining is None
