from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from libs.db.reads import ReadPool
from services.registry.adapters.agent_store import SqlAgentStore
from services.registry.adapters.lifecycle_store import SqlLifecycleStore
from services.registry.adapters.outbox_relay import OutboxRelay
from services.registry.adapters.redis_events import RedisClusterEvents
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.app import MIGRATIONS


@dataclass
class Stores:
    sessions: SqlSessionStore
    lifecycle: SqlLifecycleStore
    agents: SqlAgentStore
    events: RedisClusterEvents
    relay: OutboxRelay
    engine: AsyncEngine
    factory: async_sessionmaker[AsyncSession]


@pytest.fixture(scope="session")
async def registry_db(database_url: str) -> str:
    await upgrade(database_url, MIGRATIONS, "registry")
    return database_url


@pytest.fixture
async def stores(registry_db: str, redis: Redis, key_prefix: str) -> AsyncIterator[Stores]:
    engine = create_engine(registry_db, pool_size=5)
    factory = session_factory(engine)
    reads = ReadPool(registry_db, size=2)  # as the service runs: `get` on the hot read path
    await reads.open()
    yield Stores(
        SqlSessionStore(factory, reads),
        SqlLifecycleStore(factory),
        SqlAgentStore(factory),
        RedisClusterEvents(redis, key_prefix),
        OutboxRelay(engine, factory, redis, key_prefix),
        engine,
        factory,
    )
    await reads.close()
    await engine.dispose()
