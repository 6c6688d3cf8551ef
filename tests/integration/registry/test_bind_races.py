"""The batch bind under races: two binders at once, a session another batch already took, and
a batch large enough that each table is written with one statement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update

from libs.core.ids import new_id
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.domain.model import Status
from services.registry.service.ports import SessionPlacement
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration

_MADE: list[str] = []


@pytest.fixture(autouse=True)
async def _retire_sessions(stores: Stores) -> AsyncIterator[None]:
    """End this test's sessions afterwards: the database is shared, and a starter test claims
    the oldest SCHEDULED sessions."""
    yield
    async with stores.factory.begin() as db:
        await db.execute(
            update(KernelRow).where(KernelRow.session_id.in_(_MADE)).values(status="TERMINATED")
        )
        await db.execute(
            update(SessionRow).where(SessionRow.id.in_(_MADE)).values(status="TERMINATED")
        )
    _MADE.clear()


async def _agent(stores: Stores, cpu: str = "4") -> str:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu=cpu), datetime.now(UTC))
    return agent_id


async def _session(stores: Stores, cpu: str = "1") -> tuple[str, str]:
    session, _ = await stores.sessions.add(new_session(cpu=cpu, mem="10"))
    _MADE.append(session.session_id)
    return session.session_id, session.kernels[0].kernel_id


def _on(agent_id: str, sessions: list[tuple[str, str]]) -> list[SessionPlacement]:
    return [SessionPlacement(session_id=s, kernels={k: agent_id}) for s, k in sessions]


async def test_two_binders_placing_the_same_sessions_at_once_bind_each_once(
    stores: Stores,
) -> None:
    a, b = await _agent(stores, cpu="8"), await _agent(stores, cpu="8")
    sessions = [await _session(stores) for _ in range(6)]
    first, second = await asyncio.gather(
        stores.sessions.bind_many(_on(a, sessions)),
        stores.sessions.bind_many(_on(b, list(reversed(sessions)))),
    )
    winner: dict[str, str] = {}
    for agent_id, outcomes in ((a, first), (b, second)):
        for o in outcomes:
            if o.bound:
                assert o.session_id not in winner, "bound by both binders"
                winner[o.session_id] = agent_id
            else:
                assert o.conflict == "session-not-pending"
    assert sorted(winner) == sorted(s for s, _ in sessions)
    for session_id, agent_id in winner.items():
        session = await stores.sessions.get(session_id)
        assert session.status is Status.SCHEDULED
        assert [k.agent_id for k in session.kernels] == [agent_id]
    for agent_id in (a, b):
        held = sum(1 for w in winner.values() if w == agent_id)
        assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == Decimal(held)


async def test_two_binders_filling_one_agent_at_once_never_exceed_its_capacity(
    stores: Stores,
) -> None:
    agent_id = await _agent(stores, cpu="4")
    mine = [await _session(stores) for _ in range(3)]
    theirs = [await _session(stores) for _ in range(3)]
    first, second = await asyncio.gather(
        stores.sessions.bind_many(_on(agent_id, mine)),
        stores.sessions.bind_many(_on(agent_id, theirs)),
    )
    outcomes = [*first, *second]
    assert sum(o.bound for o in outcomes) == 4
    assert {o.conflict for o in outcomes if not o.bound} == {"agent-capacity-exceeded"}
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == Decimal(4)


async def test_a_batch_with_a_session_that_lost_its_race_binds_the_others(stores: Stores) -> None:
    taken_on, agent_id = await _agent(stores), await _agent(stores)
    before, lost, after = [await _session(stores) for _ in range(3)]
    assert (await stores.sessions.bind_many(_on(taken_on, [lost])))[0].bound

    outcomes = await stores.sessions.bind_many(_on(agent_id, [before, lost, after]))

    assert [(o.bound, o.conflict) for o in outcomes] == [
        (True, ""),
        (False, "session-not-pending"),
        (True, ""),
    ]
    kept = await stores.sessions.get(lost[0])
    assert [k.agent_id for k in kept.kernels] == [taken_on]
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == Decimal(2)
    assert (await stores.agents.get(taken_on)).occupied_slots["cpu"] == Decimal(1)


async def test_a_large_batch_binds_every_session_and_sums_fractional_slots(stores: Stores) -> None:
    agents = [await _agent(stores, cpu="64") for _ in range(3)]
    sessions = [await _session(stores, cpu="0.25") for _ in range(60)]
    placements = [
        SessionPlacement(session_id=s, kernels={k: agents[i % 3]})
        for i, (s, k) in enumerate(sessions)
    ]
    outcomes = await stores.sessions.bind_many(placements)
    assert all(o.bound for o in outcomes)
    for agent_id in agents:
        occupied = (await stores.agents.get(agent_id)).occupied_slots
        assert occupied["cpu"] == Decimal(5)  # 20 sessions of 0.25
    session = await stores.sessions.get(sessions[-1][0])
    assert session.status is Status.SCHEDULED and session.status_info == "scheduled"
