"""When a session was last used: one Redis key per session, written by whatever sees its use.

Executions, terminal input and app traffic all count as use; the idle checker reads the key to
decide whether a session's network-idle timeout has run out. Writers call `touch`; the key
expires on its own so that sessions long gone leave nothing behind.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

KEY_PREFIX = "shipyard:activity:"
KEY_TTL_SECONDS = 7 * 24 * 3600


def activity_key(session_id: str) -> str:
    return f"{KEY_PREFIX}{session_id}"


async def touch(redis: Redis, session_id: str, at: float | None = None) -> None:
    """Record that the session was used now (or at `at`, seconds since the epoch)."""
    when = time.time() if at is None else at
    await redis.set(activity_key(session_id), repr(when), ex=KEY_TTL_SECONDS)


async def last_seen(redis: Redis, session_id: str) -> float | None:
    """Seconds since the epoch of the session's last recorded use, or None if never seen."""
    raw = await redis.get(activity_key(session_id))
    return None if raw is None else float(raw)
