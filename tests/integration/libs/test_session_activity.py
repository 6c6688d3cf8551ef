"""The session-activity key, against the real Redis."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from libs.events import session_activity


async def test_a_session_never_touched_has_no_last_use(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        assert await session_activity.last_seen(redis, str(uuid.uuid4())) is None
    finally:
        await redis.aclose()


async def test_the_latest_touch_is_what_the_reader_sees_and_it_expires(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    session_id = str(uuid.uuid4())
    try:
        await session_activity.touch(redis, session_id, at=1000.5)
        await session_activity.touch(redis, session_id, at=2000.25)
        assert await session_activity.last_seen(redis, session_id) == 2000.25
        ttl = await redis.ttl(session_activity.activity_key(session_id))
        assert 0 < ttl <= session_activity.KEY_TTL_SECONDS
    finally:
        await redis.delete(session_activity.activity_key(session_id))
        await redis.aclose()
