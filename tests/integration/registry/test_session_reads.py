"""The hot read path of a session (plain asyncpg, no ORM, no ping per checkout) against the real
PostgreSQL: it returns what the ORM path returns, and it survives a dropped connection."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest

from libs.core.ids import new_id
from libs.core.slots import ResourceSlots
from libs.db.reads import ReadPool
from services.registry.adapters.session_reads import fetch_session
from services.registry.adapters.session_store import SqlSessionStore
from services.registry.domain.errors import SessionNotFound
from services.registry.service.ports import NewKernel
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def test_read_path_returns_what_the_orm_returns(stores: Stores) -> None:
    base = new_session()
    sub = NewKernel(
        kernel_id=new_id(),
        cluster_role="sub",
        requested_slots=ResourceSlots({"cpu": "1", "mem": "1000"}),
        cluster_idx=1,
        local_rank=1,
    )
    created, _ = await stores.sessions.add(replace(base, kernels=(*base.kernels, sub)))
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id), datetime.now(UTC))
    placement = {k.kernel_id: agent_id for k in created.kernels}
    assert (await stores.sessions.bind(created.session_id, placement)).bound

    fast = await stores.sessions.get(created.session_id)
    orm = await SqlSessionStore(stores.factory).get(created.session_id)

    assert fast == orm
    assert [k.cluster_role for k in fast.kernels] == ["main", "sub"]
    assert {k.agent_id for k in fast.kernels} == {agent_id}


async def test_many_sessions_read_as_the_orm_reads_them(stores: Stores) -> None:
    """The watch's read (`get_many`): the sessions that exist among those asked for."""
    a = (await stores.sessions.add(new_session()))[0].session_id
    b = (await stores.sessions.add(new_session()))[0].session_id
    asked = [a, b, a, new_id(), "not-a-uuid"]

    fast = await stores.sessions.get_many(asked)
    orm = await SqlSessionStore(stores.factory).get_many([a, b, new_id()])

    assert fast == orm and set(fast) == {a, b}
    assert await stores.sessions.get_many([]) == {}


async def test_unknown_or_malformed_ids_are_not_found(stores: Stores) -> None:
    for session_id in (new_id(), "not-a-uuid", ""):
        with pytest.raises(SessionNotFound):
            await stores.sessions.get(session_id)


async def test_a_read_survives_its_connection_being_terminated(
    stores: Stores, registry_db: str
) -> None:
    """No ping before a checkout: the dead connection is found by the query, which runs again
    on a new one. Only this pool's own backend (on this test database) is terminated."""
    created = (await stores.sessions.add(new_session()))[0].session_id
    pool = ReadPool(registry_db, size=1)
    await pool.open()
    admin = await asyncpg.connect(registry_db.replace("+asyncpg", ""))
    try:
        first = await pool.fetchrow("SELECT pg_backend_pid() AS pid, current_database() AS db")
        assert first is not None
        killed = await admin.fetchval(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid = $1 AND datname = $2",
            first["pid"],
            first["db"],
        )
        assert killed is True

        session = await fetch_session(pool, created)

        assert session is not None and session.session_id == created
        again = await pool.fetchrow("SELECT pg_backend_pid() AS pid")
        assert again is not None and again["pid"] != first["pid"]
    finally:
        await admin.close()
        await pool.close()


async def test_concurrent_reads_each_get_the_session_they_asked_for(
    stores: Stores,
) -> None:
    """GetSession calls arriving together share queries; each caller gets exactly the
    session it asked for (or not-found), never another caller's."""
    created = [(await stores.sessions.add(new_session()))[0].session_id for _ in range(10)]
    unknown = new_id()

    async def read(session_id: str) -> str:
        try:
            return (await stores.sessions.get(session_id)).session_id
        except SessionNotFound:
            return "not found"

    answers = await asyncio.gather(*(read(s) for s in [*created, unknown, "not-a-uuid"]))

    assert answers == [*created, "not found", "not found"]
