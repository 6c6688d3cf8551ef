"""The SQL adapters behind the verifier: keypair lookups and last-use recording."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.core.identity import Role
from libs.db.engine import create_engine, session_factory
from services.auth.adapters.keypair_store import SqlKeypairStore
from services.auth.adapters.usage import SqlUsageRecorder
from services.auth.app import bootstrap
from services.auth.config import BootstrapSettings
from services.auth.domain.model import Keypair, UserStatus
from services.auth.tenancy_app import secret_cipher

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def admin_keypair(migrated_url: str, unique_email: str) -> Keypair:
    settings = BootstrapSettings(database_url=migrated_url, bootstrap_admin_email=unique_email)
    return await bootstrap(settings)


async def test_find_returns_the_keypair_with_its_owner(engine, admin_keypair, unique_email):
    owner = await SqlKeypairStore(session_factory(engine), secret_cipher(BootstrapSettings())).find(
        admin_keypair.access_key
    )
    assert owner is not None
    assert owner.secret_key == admin_keypair.secret_key
    assert owner.keypair_active
    assert owner.user_status is UserStatus.ACTIVE
    assert owner.role is Role.SUPERADMIN
    assert owner.email == unique_email
    assert owner.domain_name == "default"
    assert len(owner.project_ids) == 1


async def test_find_reflects_state_and_membership(engine, admin_keypair):
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE auth.keypairs SET is_active = false WHERE access_key = :k"),
            {"k": admin_keypair.access_key},
        )
        await conn.execute(
            text(
                "DELETE FROM auth.project_members WHERE user_id ="
                " (SELECT user_id FROM auth.keypairs WHERE access_key = :k)"
            ),
            {"k": admin_keypair.access_key},
        )
    owner = await SqlKeypairStore(session_factory(engine), secret_cipher(BootstrapSettings())).find(
        admin_keypair.access_key
    )
    assert owner is not None
    assert not owner.keypair_active
    assert owner.project_ids == ()


async def test_find_unknown_key_is_none(engine):
    assert (
        await SqlKeypairStore(session_factory(engine), secret_cipher(BootstrapSettings())).find(
            "AKNOSUCHKEY000000000"
        )
        is None
    )


async def test_usage_is_written_at_most_once_per_interval(engine, admin_keypair):
    recorder = SqlUsageRecorder(session_factory(engine), interval=60)
    key = admin_keypair.access_key
    t0 = datetime(2030, 1, 1, tzinfo=UTC)

    async def recorded_after(at: datetime) -> datetime:
        recorder.touch(key, at)
        await recorder.flush()
        async with engine.connect() as conn:
            query = text("SELECT last_used_at FROM auth.keypairs WHERE access_key = :k")
            return (await conn.execute(query, {"k": key})).scalar_one()

    assert await recorded_after(t0) == t0
    assert await recorded_after(t0 + timedelta(seconds=59)) == t0
    assert await recorded_after(t0 + timedelta(seconds=61)) == t0 + timedelta(seconds=61)
