"""Reconciliation against the real database (rule R-RECONCILE)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from services.registry.adapters.occupancy_store import SqlOccupancy
from services.registry.adapters.tables import AgentRow
from services.registry.domain.model import Status
from services.registry.service.reconcile import Reconciler
from tests.integration.registry.conftest import Stores
from tests.integration.registry.start_helpers import (
    FakeAgents,
    new_agent,
    outcomes_for,
    scheduled_on,
)

pytestmark = pytest.mark.integration


def reconciler(stores: Stores, agents: FakeAgents) -> Reconciler:
    return Reconciler(
        stores.lifecycle,
        SqlOccupancy(stores.factory),
        outcomes_for(stores, agents),
        agents,
        prepare_timeout=timedelta(seconds=120),
    )


async def test_a_session_left_preparing_goes_back_to_the_queue(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    session_id, kernel_id = await scheduled_on(stores, agent_id, cpu="2")
    await stores.lifecycle.claim_scheduled(100)  # the starter that claimed it then died
    agents = FakeAgents()
    await reconciler(stores, agents).reconcile(datetime.now(UTC) + timedelta(seconds=121))
    session = await stores.sessions.get(session_id)
    assert (session.status, session.status_info) == (Status.PENDING, "start-failed-requeued")
    assert kernel_id in {k for k, _ in agents.destroyed}
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0


async def test_a_recent_start_is_left_alone(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    session_id, _ = await scheduled_on(stores, agent_id)
    await stores.lifecycle.claim_scheduled(100)
    await reconciler(stores, FakeAgents()).reconcile()
    assert (await stores.sessions.get(session_id)).status is Status.PREPARING


async def test_drifted_occupancy_is_recomputed_from_live_kernels(stores: Stores) -> None:
    agent_id = await new_agent(stores, cpu="4")
    await scheduled_on(stores, agent_id, cpu="1")
    async with stores.factory.begin() as db:
        await db.execute(
            update(AgentRow).where(AgentRow.id == agent_id).values(occupied_slots={"cpu": "3"})
        )
    await reconciler(stores, FakeAgents()).reconcile()
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 1


async def test_the_drift_scan_picks_only_agents_whose_occupancy_is_wrong(stores: Stores) -> None:
    wrong, right, idle_zero, idle_empty = [await new_agent(stores, cpu="4") for _ in range(4)]
    await scheduled_on(stores, wrong, cpu="1")
    await scheduled_on(stores, right, cpu="1")
    await scheduled_on(stores, right, cpu="0.5")
    stored = {wrong: {"cpu": "3"}, idle_zero: {"cpu": "0", "mem": "0"}, idle_empty: {}}
    async with stores.factory.begin() as db:
        for agent_id, slots in stored.items():
            await db.execute(
                update(AgentRow).where(AgentRow.id == agent_id).values(occupied_slots=slots)
            )
    occupancy = SqlOccupancy(stores.factory)
    mine = {wrong, right, idle_zero, idle_empty}
    assert mine & set(await occupancy.drifted()) == {wrong}
    fixed = await occupancy.recompute_all()
    assert mine & {a.agent_id for a in fixed} == {wrong}
    assert (await stores.agents.get(wrong)).occupied_slots["cpu"] == 1
    assert (await stores.agents.get(right)).occupied_slots["cpu"] == Decimal("1.5")
    assert mine & set(await occupancy.drifted()) == set()
