from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.engine import create_engine, session_factory
from libs.db.migrate import upgrade
from services.registry.adapters.agent_store import SqlAgentStore
from services.registry.adapters.redis_events import RedisClusterEvents
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.app import MIGRATIONS


@dataclass
class Stores:
    sessions: SqlSessionStore
    agents: SqlAgentStore
    events: RedisClusterEvents
    factory: async_sessionmaker[AsyncSession]


@pytest.fixture(scope="session")
async def registry_db(database_url: str) -> str:
    await upgrade(database_url, MIGRATIONS, "registry")
    return database_url


@pytest.fixture
async def stores(registry_db: str, redis: Redis, key_prefix: str) -> AsyncIterator[Stores]:
    engine = create_engine(registry_db, pool_size=5)
    factory = session_factory(engine)
    yield Stores(
        SqlSessionStore(factory),
        SqlAgentStore(factory),
        RedisClusterEvents(redis, key_prefix),
        factory,
    )
    await engine.dispose()
