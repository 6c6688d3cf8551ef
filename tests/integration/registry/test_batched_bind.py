"""Many sessions bound in one transaction: each on its own, conflicts per session, fenced."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from libs.core.ids import new_id
from libs.db.engine import create_engine, session_factory
from services.registry.adapters.tables import SchedulerFenceRow
from services.registry.domain.model import Status
from services.registry.service.ports import PendingNote, SessionPlacement
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def _agent(stores: Stores, cpu: str = "4") -> str:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu=cpu), datetime.now(UTC))
    return agent_id


async def _placed(
    stores: Stores, agent_id: str, cpu: str = "1", *, ak: str = "", limit: int = 0
) -> SessionPlacement:
    session, _ = await stores.sessions.add(new_session(cpu=cpu, access_key=ak))
    return SessionPlacement(
        session_id=session.session_id,
        kernels={session.kernels[0].kernel_id: agent_id},
        max_concurrent_sessions=limit,
    )


async def _next_epoch(registry_db: str) -> int:
    engine = create_engine(registry_db, pool_size=1)
    try:
        async with session_factory(engine)() as db:
            found = (await db.execute(select(SchedulerFenceRow.epoch))).scalar_one_or_none()
    finally:
        await engine.dispose()
    return (found or 0) + 1


async def test_a_batch_binds_what_fits_and_reports_each_conflict(stores: Stores) -> None:
    agent_id = await _agent(stores, cpu="4")
    fits = [await _placed(stores, agent_id, cpu="1.5") for _ in range(2)]
    too_much = await _placed(stores, agent_id, cpu="1.5")  # 4.5 > 4 with the two before it
    small = await _placed(stores, agent_id, cpu="1")
    mismatch = SessionPlacement(session_id=small.session_id, kernels={new_id(): agent_id})
    outcomes = await stores.sessions.bind_many([*fits, too_much, mismatch, small])

    assert [o.bound for o in outcomes] == [True, True, False, False, True]
    assert outcomes[2].conflict == "agent-capacity-exceeded"
    assert outcomes[3].conflict == "kernel-set-mismatch"
    agent = await stores.agents.get(agent_id)
    assert agent.occupied_slots["cpu"] == Decimal(4)
    assert (await stores.sessions.get(too_much.session_id)).status is Status.PENDING
    # Every bound session's change carries the agent's occupancy after the whole batch.
    for o in outcomes:
        if o.bound:
            assert o.change is not None
            assert [a.occupied_slots["cpu"] for a in o.change.agents] == [Decimal(4)]


async def test_a_session_twice_in_one_batch_is_bound_once(stores: Stores) -> None:
    agent_id = await _agent(stores, cpu="4")
    p = await _placed(stores, agent_id, cpu="1")
    outcomes = await stores.sessions.bind_many([p, p])
    assert [(o.bound, o.conflict) for o in outcomes] == [(True, ""), (False, "session-not-pending")]
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == Decimal(1)


async def test_the_keypair_limit_counts_sessions_bound_earlier_in_the_batch(
    stores: Stores,
) -> None:
    agent_id = await _agent(stores, cpu="8")
    ak = f"AK{new_id()[:8]}"
    batch = [await _placed(stores, agent_id, ak=ak, limit=2) for _ in range(3)]
    outcomes = await stores.sessions.bind_many(batch)
    assert [o.bound for o in outcomes] == [True, True, False]
    assert outcomes[2].conflict == "concurrency-limit"


async def test_notes_are_recorded_in_the_same_transaction_for_pending_sessions_only(
    stores: Stores,
) -> None:
    agent_id = await _agent(stores, cpu="4")
    bound = await _placed(stores, agent_id)
    waiting = await _placed(stores, agent_id)
    await stores.sessions.bind_many(
        [bound],
        [
            PendingNote(
                session_id=waiting.session_id, reason="no-available-instances", message="m"
            ),
            PendingNote(session_id=bound.session_id, reason="no-available-instances", message="x"),
        ],
    )
    assert (await stores.sessions.get(waiting.session_id)).status_info == "no-available-instances"
    after = await stores.sessions.get(bound.session_id)
    assert after.status is Status.SCHEDULED and after.status_info == "scheduled"


async def test_a_stale_leaders_batch_binds_nothing_and_notes_nothing(
    stores: Stores, registry_db: str
) -> None:
    agent_id = await _agent(stores, cpu="4")
    old_epoch = await _next_epoch(registry_db)
    new_epoch = old_epoch + 1
    first = await _placed(stores, agent_id)
    assert (await stores.sessions.bind_many([first], lease_epoch=old_epoch))[0].bound
    # The standby took over: its binds raise the fence.
    second = await _placed(stores, agent_id)
    assert (await stores.sessions.bind_many([second], lease_epoch=new_epoch))[0].bound

    late = await _placed(stores, agent_id)
    noted = await _placed(stores, agent_id)
    outcomes = await stores.sessions.bind_many(
        [late],
        [PendingNote(session_id=noted.session_id, reason="stale", message="from the old leader")],
        lease_epoch=old_epoch,
    )
    assert [(o.bound, o.conflict) for o in outcomes] == [(False, "stale-leader")]
    assert (await stores.sessions.get(late.session_id)).status is Status.PENDING
    assert (await stores.sessions.get(noted.session_id)).status_info != "stale"
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == Decimal(2)
    # The current leader (same epoch again) still binds.
    assert (await stores.sessions.bind_many([late], lease_epoch=new_epoch))[0].bound
