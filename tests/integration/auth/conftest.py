"""Auth integration fixtures: a migrated database, private databases, a running server."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.auth.adapters.schema import migrate
from services.auth.app import AuthServer, serve
from services.auth.config import Settings
from tests.conftest import ADMIN_PG_URL
from tests.integration.auth.tenants import replica_settings


@pytest.fixture(scope="session")
async def migrated_url(database_url: str) -> str:
    await migrate(database_url)
    return database_url


@pytest.fixture
async def fresh_database_url() -> AsyncIterator[str]:
    """A private empty database, for tests about the very first start."""
    name = f"shipyard_auth_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_PG_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"postgresql+asyncpg://{ADMIN_PG_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    admin = await asyncpg.connect(ADMIN_PG_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def unique_email() -> str:
    return f"admin-{secrets.token_hex(4)}@example.com"


@pytest.fixture
async def auth_server(
    migrated_url: str, internal_token: str, unique_email: str, redis_url: str, key_prefix: str
) -> AsyncIterator[AuthServer]:
    settings = Settings(
        internal_token=internal_token,
        database_url=migrated_url,
        redis_url=redis_url,
        redis_prefix=key_prefix,
        bind="127.0.0.1:0",
        authz_bind="127.0.0.1:0",
        bootstrap_admin_email=unique_email,
        migrate=False,
        last_used_flush_every=3600,  # only stop() flushes: tests see exactly when
    )
    app = await serve(settings)
    yield app
    await app.stop(grace=0.5)


@pytest.fixture
async def world(auth_server: AuthServer, internal_token: str, unique_email: str):  # type: ignore[no-untyped-def]
    """Two domains with an admin, users, a project each and a monitor, made by a superadmin."""
    from tests.integration.auth.admin_client import connect, system_metadata
    from tests.integration.auth.tenants import build_world, superadmin

    async with connect(auth_server.port, system_metadata(internal_token)) as system:
        root = await superadmin(system, internal_token, unique_email)
        yield await build_world(root, internal_token)


@pytest.fixture
async def replicas(
    migrated_url: str, internal_token: str, unique_email: str, key_prefix: str
) -> AsyncIterator[tuple[AuthServer, AuthServer]]:
    """Two auth processes' worth of servers sharing PostgreSQL and Redis."""
    settings = replica_settings(migrated_url, internal_token, unique_email, key_prefix)
    first = await serve(settings)
    second = await serve(settings)
    try:
        for replica in (first, second):
            await asyncio.wait_for(replica.tenancy.revocations.ready.wait(), 5)
        yield first, second
    finally:
        await first.stop(grace=0.5)
        await second.stop(grace=0.5)
