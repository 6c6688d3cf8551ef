"""Migrations and the bootstrap against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from libs.db.engine import create_engine
from services.auth.adapters.tables import Base
from services.auth.app import bootstrap
from services.auth.config import BootstrapSettings
from services.auth.domain.errors import InvalidBootstrapKeypair
from services.auth.domain.model import is_access_key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
GIVEN_AK = "AKTESTBOOTSTRAP00001"
GIVEN_SK = "s3cr3t/" + "x" * 33


async def test_bootstrap_twice_returns_the_same_keypair(migrated_url, unique_email):
    settings = BootstrapSettings(database_url=migrated_url, bootstrap_admin_email=unique_email)
    first = await bootstrap(settings)
    second = await bootstrap(settings)
    assert first == second
    assert is_access_key(first.access_key)
    engine = create_engine(migrated_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT u.role::text, u.status::text, p.name, d.name, k.is_admin"
                        " FROM auth.users u JOIN auth.keypairs k ON k.user_id = u.id"
                        " JOIN auth.project_members m ON m.user_id = u.id"
                        " JOIN auth.projects p ON p.id = m.project_id"
                        " JOIN auth.domains d ON d.name = u.domain_name WHERE u.email = :e"
                    ),
                    {"e": unique_email},
                )
            ).all()
    finally:
        await engine.dispose()
    assert row == [("superadmin", "active", "default", "default", True)]


async def test_concurrent_first_starts_agree_on_one_keypair(fresh_database_url):
    settings = BootstrapSettings(database_url=fresh_database_url)
    results = await asyncio.gather(*(bootstrap(settings) for _ in range(4)))
    assert len(set(results)) == 1


async def test_configured_keypair_is_ensured(migrated_url, unique_email):
    settings = BootstrapSettings(
        database_url=migrated_url,
        bootstrap_admin_email=unique_email,
        bootstrap_access_key=GIVEN_AK,
        bootstrap_secret_key=GIVEN_SK,
    )
    for _ in range(2):
        keypair = await bootstrap(settings)
        assert (keypair.access_key, keypair.secret_key) == (GIVEN_AK, GIVEN_SK)


async def test_half_configured_keypair_is_refused(migrated_url):
    settings = BootstrapSettings(database_url=migrated_url, bootstrap_access_key=GIVEN_AK)
    with pytest.raises(InvalidBootstrapKeypair):
        await bootstrap(settings)


async def test_bootstrap_command_prints_the_keypair(migrated_url, unique_email):
    env = {
        **os.environ,
        "AUTH_DATABASE_URL": migrated_url,
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": unique_email,
    }
    outputs = []
    for _ in range(2):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.auth",
            "bootstrap",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == {"access_key", "secret_key"}


async def test_migrations_match_the_table_definitions(migrated_url):
    def diff(conn: Connection) -> list[object]:
        def ours(name, type_, parent_names):
            if type_ == "schema":
                return name == "auth"
            return name != "alembic_version"

        opts = {"include_schemas": True, "include_name": ours}
        return compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)

    engine = create_engine(migrated_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
