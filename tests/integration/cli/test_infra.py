"""`shipyard up` without reachable servers starts private PostgreSQL and Redis instances."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from cli import infra

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
async def test_private_redis_starts_and_stops(tmp_path: Path) -> None:
    owned = infra.Infra(database_url="", redis_url="")
    url = infra._start_redis(tmp_path, owned)
    client = Redis.from_url(url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
        owned.stop()
    assert all(p.poll() is not None for p in owned.owned)


async def test_private_postgres_starts_with_a_database_and_stops() -> None:
    try:
        infra._pg_bin("initdb")
    except RuntimeError:
        pytest.skip("PostgreSQL binaries not installed")
    # As root the server runs as `postgres`, which must be able to reach the data directory
    # (pytest's own temporary directories are private to root).
    data_dir = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    data_dir.chmod(0o755)
    owned = infra.Infra(database_url="", redis_url="")
    admin_url = infra._start_postgres(data_dir, owned)
    try:
        await infra._ensure_database(admin_url, "shipyard")
        conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + "/shipyard")
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        owned.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    port = int(admin_url.rsplit(":", 1)[1].split("/")[0])
    assert not infra.port_open("127.0.0.1", port)
