"""The usage migration on a database with kernels that already ran: they count from when their
session became RUNNING."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from libs.db.engine import create_engine
from libs.db.migrate import upgrade
from services.registry.app import MIGRATIONS
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.integration

SESSION = "00000000-0000-0000-0000-000000000001"
RAN, NEVER = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"


async def test_kernels_that_ran_before_the_upgrade_get_their_start() -> None:
    name, url = await create_database()
    engine = create_engine(url, pool_size=1)
    try:
        await upgrade(url, MIGRATIONS, "registry", revision="0009_sched_gaps_preempt_requeue")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO registry.sessions (id, name, session_type, image, status,"
                    " status_info, status_message, status_data, status_history, owner_user_id,"
                    " access_key, domain_name, project_id, resource_group, requested_slots,"
                    " vfolder_mounts, startup_command, environ, trace_context, created_at,"
                    " status_changed_at) VALUES (:id, 's', 'INTERACTIVE', 'i', 'TERMINATED', '',"
                    " '', '{}', CAST(:history AS jsonb), 'u', 'AK', 'default', 'p', 'default',"
                    " '{}', '[]', '', '{}', '{}', now(), now())"
                ),
                {"id": SESSION, "history": '{"RUNNING": "2026-01-01T10:00:00+00:00"}'},
            )
            for kernel_id, status in ((RAN, "TERMINATED"), (NEVER, "CANCELLED")):
                await conn.execute(
                    text(
                        "INSERT INTO registry.kernels (id, session_id, cluster_role, status,"
                        " status_info, status_data, requested_slots, created_at,"
                        " status_changed_at) VALUES (:id, :sid, 'main', :status, '', '{}', '{}',"
                        " now(), now())"
                    ),
                    {"id": kernel_id, "sid": SESSION, "status": status},
                )
        await upgrade(url, MIGRATIONS, "registry")
        async with engine.connect() as conn:
            rows = dict(
                (
                    await conn.execute(
                        text("SELECT id::text, started_at::text FROM registry.kernels")
                    )
                ).all()
            )
        assert rows[RAN] is not None and rows[RAN].startswith("2026-01-01 10:00:00")
        assert rows[NEVER] is None
    finally:
        await engine.dispose()
        await drop_database(name)
