"""Are the registry's dependencies up? Used by its event consumer to tell an outage from a bad
event (rule R-OUTAGE-BACKOFF in docs/reliability.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def dependencies_probe(engine: AsyncEngine, redis: Redis) -> Callable[[], Awaitable[bool]]:
    """True when PostgreSQL answers a query and Redis a ping (an exception means "no")."""

    async def healthy() -> bool:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return bool(await redis.ping())

    return healthy
