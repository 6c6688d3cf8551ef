"""The write pool sends no ping before a transaction (libs/db/engine.py), yet never hands out a
connection the server has closed: a write transaction right after its connections were
terminated runs on new ones, against the real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session

pytestmark = pytest.mark.integration


async def _backend_pids(stores: Stores) -> set[int]:
    async with stores.engine.connect() as conn:
        return {int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())}


async def test_a_write_transaction_survives_its_connections_being_terminated(
    stores: Stores, registry_db: str
) -> None:
    """Every backend of this test database but the admin's own is terminated (the write pool's
    and the read pool's); the next create (a write transaction) commits on a new connection."""
    await stores.sessions.add(new_session())
    before = await _backend_pids(stores)
    admin = await asyncpg.connect(registry_db.replace("+asyncpg", ""))
    try:
        killed = await admin.fetch(
            "SELECT pid, pg_terminate_backend(pid) AS done FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert before <= {r["pid"] for r in killed if r["done"]}
        # The backends have exited (their sockets closed) before the pool is asked again.
        while await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
            [r["pid"] for r in killed],
        ):
            pass

        created, _ = await stores.sessions.add(new_session())

        assert (await stores.sessions.get(created.session_id)).session_id == created.session_id
        assert (await _backend_pids(stores)).isdisjoint(before)
    finally:
        await admin.close()
