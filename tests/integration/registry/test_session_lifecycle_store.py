"""The registry's stores against the real PostgreSQL: idempotency, binds, occupancy."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from libs.core.identity import Caller
from libs.core.ids import new_id
from services.registry.adapters.lost_agent_store import SqlLostAgentSessions
from services.registry.domain.errors import (
    PendingSessionLimit,
    SessionNameInUse,
    SessionNotDestroyable,
)
from services.registry.domain.model import Status
from services.registry.service.queries import SessionQueries
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


async def _agent(stores: Stores, **kw: str) -> str:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, **kw), datetime.now(UTC))
    return agent_id


async def test_client_token_makes_creation_idempotent(stores: Stores) -> None:
    first = new_session(token="tok-1")
    retry = new_session(token="tok-1", access_key=first.access_key)
    created, was_new = await stores.sessions.add(first)
    again, again_new = await stores.sessions.add(retry)
    assert was_new and not again_new
    assert again.session_id == created.session_id


async def test_a_retry_finds_its_session_with_kernels_even_at_the_pending_cap(
    stores: Stores,
) -> None:
    capped = replace(new_session(token="tok-cap"), max_pending_sessions=1)
    created, _ = await stores.sessions.add(capped)
    retry = replace(
        new_session(token="tok-cap", access_key=capped.access_key), max_pending_sessions=1
    )
    again, again_new = await stores.sessions.add(retry)
    assert not again_new and again == created
    assert [k.kernel_id for k in again.kernels] == [capped.kernels[0].kernel_id]
    with pytest.raises(PendingSessionLimit):
        await stores.sessions.add(
            replace(new_session(access_key=capped.access_key), max_pending_sessions=1)
        )
    uncapped, _ = await stores.sessions.add(
        new_session(token="tok-free", access_key=capped.access_key)
    )
    # A retry names the same session as the first try: its token answers, not the name's clash.
    retry_free = replace(
        new_session(token="tok-free", access_key=capped.access_key), name=uncapped.name
    )
    retried, retried_new = await stores.sessions.add(retry_free)
    assert not retried_new and retried == uncapped


async def test_concurrent_retries_with_one_token_create_one_session(stores: Stores) -> None:
    base = new_session(token="tok-race")
    tries = [base] + [new_session(token="tok-race", access_key=base.access_key) for _ in range(4)]
    results = await asyncio.gather(*(stores.sessions.add(t) for t in tries))
    assert len({s.session_id for s, _ in results}) == 1
    assert sum(1 for _, created in results if created) == 1


async def test_live_session_names_are_unique_per_owner(stores: Stores) -> None:
    first = new_session()
    await stores.sessions.add(first)
    clash = replace(new_session(access_key=first.access_key), name=first.name)
    with pytest.raises(SessionNameInUse):
        await stores.sessions.add(clash)


async def test_bind_reserves_slots_and_refuses_overcommit(stores: Stores) -> None:
    agent_id = await _agent(stores, cpu="2", mem="2000")
    a, _ = await stores.sessions.add(new_session(cpu="1.5", mem="1000"))
    b, _ = await stores.sessions.add(new_session(cpu="1", mem="1000"))
    ok = await stores.sessions.bind(a.session_id, {a.kernels[0].kernel_id: agent_id})
    refused = await stores.sessions.bind(b.session_id, {b.kernels[0].kernel_id: agent_id})
    assert ok.bound and not refused.bound
    assert refused.conflict == "agent-capacity-exceeded"
    agent = await stores.agents.get(agent_id)
    assert agent.occupied_slots["cpu"] == Decimal("1.5")
    assert (await stores.sessions.get(a.session_id)).status is Status.SCHEDULED
    assert (await stores.sessions.get(b.session_id)).status is Status.PENDING


async def test_bind_twice_is_a_conflict_not_a_double_reservation(stores: Stores) -> None:
    agent_id = await _agent(stores)
    s, _ = await stores.sessions.add(new_session(cpu="1"))
    placement = {s.kernels[0].kernel_id: agent_id}
    assert (await stores.sessions.bind(s.session_id, placement)).bound
    again = await stores.sessions.bind(s.session_id, placement)
    assert not again.bound and again.conflict == "session-not-pending"
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == Decimal(1)


async def test_kernel_events_drive_the_session_and_release_slots(stores: Stores) -> None:
    agent_id = await _agent(stores)
    s, _ = await stores.sessions.add(new_session(cpu="2"))
    kernel_id = s.kernels[0].kernel_id
    await stores.sessions.bind(s.session_id, {kernel_id: agent_id})
    [prep] = [
        p
        for p in await stores.lifecycle.claim_scheduled(100)
        if p.session.session_id == s.session_id
    ]
    assert prep.change.status is Status.PREPARING

    started = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    duplicate = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    assert started is not None and started.status is Status.RUNNING
    assert duplicate is None  # applied once

    targets, change = await stores.lifecycle.begin_destroy(
        s.session_id, forced=False, reason="user-requested"
    )
    assert [t.kernel_id for t in targets] == [kernel_id]
    assert change is not None and change.status is Status.TERMINATING
    ended = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.TERMINATED, agent_id=agent_id, reason="user-requested", exit_code=0
    )
    assert ended is not None and ended.status is Status.TERMINATED
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0
    late_start = await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    assert late_start is None
    assert (await stores.sessions.get(s.session_id)).status is Status.TERMINATED


async def test_destroying_a_pending_session_cancels_it(stores: Stores) -> None:
    s, _ = await stores.sessions.add(new_session())
    targets, change = await stores.lifecycle.begin_destroy(
        s.session_id, forced=False, reason="user-requested"
    )
    assert targets == [] and change is not None and change.status is Status.CANCELLED


async def test_preparing_session_needs_forced_destroy(stores: Stores) -> None:
    agent_id = await _agent(stores)
    s, _ = await stores.sessions.add(new_session())
    await stores.sessions.bind(s.session_id, {s.kernels[0].kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)
    with pytest.raises(SessionNotDestroyable):
        await stores.lifecycle.begin_destroy(s.session_id, forced=False, reason="user-requested")
    targets, _ = await stores.lifecycle.begin_destroy(
        s.session_id, forced=True, reason="user-requested"
    )
    assert len(targets) == 1


async def test_failed_start_cancels_and_frees_slots(stores: Stores) -> None:
    agent_id = await _agent(stores, cpu="1")
    s, _ = await stores.sessions.add(new_session(cpu="1"))
    await stores.sessions.bind(s.session_id, {s.kernels[0].kernel_id: agent_id})
    change = await stores.lifecycle.cancel(s.session_id, reason="failed-to-start", error="boom")
    assert change is not None and change.status is Status.CANCELLED
    assert (await stores.agents.get(agent_id)).occupied_slots["cpu"] == 0
    session = await stores.sessions.get(s.session_id)
    assert session.status_info == "failed-to-start" and session.status_message == "boom"


async def test_reregistration_reconciles_kernels(stores: Stores) -> None:
    agent_id = await _agent(stores)
    s, _ = await stores.sessions.add(new_session())
    kernel_id = s.kernels[0].kernel_id
    await stores.sessions.bind(s.session_id, {kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )
    stray = new_id()
    # The agent restarted: its kernel is gone and it runs one nobody knows.
    to_destroy, changes, agent = await stores.agents.register(
        registration(agent_id, live=(stray,)), datetime.now(UTC)
    )
    assert to_destroy == [stray]
    assert [(c.status, c.status_info) for c in changes] == [(Status.TERMINATED, "agent-restarted")]
    assert agent.occupied_slots == {}


async def test_a_lost_agent_must_register_again_and_its_kernels_end_after_the_grace(
    stores: Stores,
) -> None:
    agent_id = await _agent(stores)
    s, _ = await stores.sessions.add(new_session(cpu="1"))
    kernel_id = s.kernels[0].kernel_id
    await stores.sessions.bind(s.session_id, {kernel_id: agent_id})
    await stores.lifecycle.claim_scheduled(100)
    await stores.lifecycle.apply_kernel_status(
        kernel_id, Status.RUNNING, agent_id=agent_id, reason="started"
    )

    changes = await stores.agents.mark_lost([agent_id])
    assert [c.status for c in changes if c.session_id] == []  # the grace starts (R-LOST-GRACE)
    assert (await stores.sessions.get(s.session_id)).status is Status.RUNNING
    agent = await stores.agents.get(agent_id)
    assert agent.status.value == "LOST"
    assert await stores.agents.touch(agent_id, datetime.now(UTC)) is None  # heartbeat: re-register
    assert await stores.agents.mark_lost([agent_id]) == []  # already lost: nothing happens

    lost = SqlLostAgentSessions(stores.factory)
    later = datetime.now(UTC) + timedelta(seconds=1)
    settled, _ = await lost.settle(later, later)
    assert [c.status for c in settled if c.session_id == s.session_id] == [Status.TERMINATED]
    session = await stores.sessions.get(s.session_id)
    assert (session.status, session.status_info) == (Status.TERMINATED, "agent-lost")
    assert (await stores.agents.get(agent_id)).occupied_slots == {}


async def test_pages_cover_a_users_sessions_once_newest_first(stores: Stores) -> None:
    first = new_session()
    created = [(await stores.sessions.add(first))[0]]
    for _ in range(4):
        again = new_session(access_key=first.access_key, owner_user_id=first.owner_user_id)
        created.append((await stores.sessions.add(again))[0])
    queries = SessionQueries(stores.sessions)
    caller = Caller(user_id=first.owner_user_id, access_key=first.access_key)
    seen, cursor = [], None
    while True:
        page, cursor = await queries.list(caller, page_size=2, statuses=[], before=cursor)
        seen += [s.session_id for s in page]
        if cursor is None:
            break
    assert seen == [s.session_id for s in reversed(created)]
