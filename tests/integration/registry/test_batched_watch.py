"""The cluster watch sends what piled up in one batch, its sessions read in one query."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from libs.core.ids import new_id
from services.registry.adapters.slot_holders import SqlSlotHolders
from services.registry.service.ports import SessionPlacement
from services.registry.service.scheduling import Scheduling, WatchItem
from services.registry.service.watch_holders import SlotHolder
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration

pytestmark = pytest.mark.integration


class _CountingStore:
    """The real store, counting the batched reads the watch makes."""

    def __init__(self, stores: Stores) -> None:
        self._store = stores.sessions
        self.get_many_calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def get_many(self, session_ids):  # type: ignore[no-untyped-def]
        self.get_many_calls += 1
        return await self._store.get_many(session_ids)


async def test_changes_that_piled_up_come_as_one_batch_in_order(stores: Stores) -> None:
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="8"), datetime.now(UTC))
    store = _CountingStore(stores)
    scheduling = Scheduling(
        store,  # type: ignore[arg-type]
        stores.agents,
        stores.events,
        asyncio.Event(),
        holders=SqlSlotHolders(stores.factory),
    )
    watch = scheduling.watch()
    (snapshot,) = await anext(watch)
    assert snapshot.kind == "snapshot"

    created = []
    for _ in range(5):
        session, _ = await stores.sessions.add(new_session())  # stages "enqueued"
        created.append(session)
    first = created[0]
    (outcome,) = await stores.sessions.bind_many(
        [
            SessionPlacement(
                session_id=first.session_id, kernels={first.kernels[0].kernel_id: agent_id}
            )
        ]
    )
    assert outcome.change is not None
    await stores.relay.drain()  # the outbox publishes what the commits staged

    # Everything is in the stream before the watch reads on: it all piles up.
    seen = []
    async with asyncio.timeout(10):
        while not _has_all(seen, created):
            seen += await anext(watch)
    await watch.aclose()
    # Only this test's sessions (the outbox also relays what other tests staged).
    mine = {s.session_id for s in created}
    seen = [i for i in seen if _sid(i) in mine]
    # Read after the bind, the first session is no longer pending: it shows as active.
    assert [(i.kind, _sid(i)) for i in seen] == [
        *(("pending", s.session_id) for s in created[1:]),
        ("active", first.session_id),
    ]
    # The lean read of a slot holder says what a whole session read would.
    bound = await stores.sessions.get(first.session_id)
    assert seen[-1].holder == SlotHolder.of(bound)
    assert seen[-1].holder.slots_by_agent == {agent_id: first.kernels[0].requested_slots}
    # Six session changes, one or two reads: the watch batched them.
    assert store.get_many_calls <= 2


def _sid(item: WatchItem) -> str:
    if item.holder is not None:
        return item.holder.session_id
    return item.sessions[0].session_id if item.kind != "agent" and item.sessions else ""


def _has_all(seen: list, created: list) -> bool:  # type: ignore[type-arg]
    ids = {s.session_id for s in created}
    got = {_sid(i) for i in seen}
    return ids <= got
