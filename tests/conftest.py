"""Fixtures shared by every test level: a private PostgreSQL database and a Redis key space.

Tests run against real servers (SHIPYARD_TEST_PG_URL, SHIPYARD_TEST_REDIS_URL; defaults are
the local ones). Each test session gets its own fresh database, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from redis.asyncio import Redis

ADMIN_PG_URL = os.environ.get("SHIPYARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
INTERNAL_TOKEN = "test-internal-token"
# Auth encrypts keypair secrets at rest; every auth the tests start uses this deployment key.
SECRET_KEY_ENCRYPTION_KEY = "dGVzdC1vbmx5LWtleS1mb3Itc2hpcHlhcmQtdGVzdHM="
os.environ.setdefault("AUTH_SECRET_KEY_ENCRYPTION_KEY", SECRET_KEY_ENCRYPTION_KEY)


def _with_database(url: str, name: str) -> str:
    base = url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def create_database() -> tuple[str, str]:
    """Create an empty database; return its name and asyncpg SQLAlchemy URL."""
    name = f"shipyard_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_PG_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = _with_database(ADMIN_PG_URL, name)
    return name, url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_PG_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh, empty database for this test session (asyncpg SQLAlchemy URL)."""
    name, url = await create_database()
    yield url
    await drop_database(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    """A unique prefix for Redis keys/streams so tests never see each other's data."""
    return f"test:{secrets.token_hex(4)}:"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def internal_token() -> str:
    return INTERNAL_TOKEN
