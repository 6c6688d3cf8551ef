"""The images migration on a database that already has agents: their groups keep working."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from libs.db.engine import create_engine
from libs.db.migrate import upgrade
from services.registry.app import MIGRATIONS
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.integration


async def test_groups_that_agents_already_use_exist_after_the_upgrade():
    name, url = await create_database()
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade(url, MIGRATIONS, "registry", revision="0001")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO registry.agents (id, status, address, resource_group, "
                    "available_slots, occupied_slots, backend, registered_at) VALUES "
                    "('a1', 'ALIVE', 'h:1', 'gpu', '{}', '{}', 'process', now())"
                )
            )
        await upgrade(url, MIGRATIONS, "registry")
        async with engine.connect() as conn:
            groups = (
                await conn.execute(text("SELECT name FROM registry.resource_groups ORDER BY name"))
            ).scalars()
            agent = (
                await conn.execute(
                    text("SELECT architecture, images FROM registry.agents WHERE id = 'a1'")
                )
            ).one()
        assert list(groups) == ["default", "gpu"]
        assert (agent.architecture, agent.images) == ("", [])
    finally:
        await engine.dispose()
        await drop_database(name)
