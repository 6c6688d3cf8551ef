"""The scheduler's watch follows a re-queued session: it stops counting its slots at once and
sees it in the queue again only when its backoff ends."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from services.registry.adapters.requeue_store import SqlStartRetries
from services.registry.service.scheduling import Scheduling, WatchItem
from services.registry.service.start_outcomes import RequeueRelease
from tests.integration.registry.conftest import Stores
from tests.integration.registry.start_helpers import (
    FakeAgents,
    claim,
    new_agent,
    outcomes_for,
    scheduled_on,
    until,
)

pytestmark = pytest.mark.integration


class SoonRelease(SqlStartRetries):
    """Releases as if the backoff had passed."""

    async def release_due(self, now: datetime, limit: int) -> list[str]:
        return await super().release_due(now + timedelta(minutes=5), limit)


async def test_the_watch_drops_a_requeued_session_then_offers_it_again(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    session_id, _ = await scheduled_on(stores, agent_id)
    scheduling = Scheduling(stores.sessions, stores.agents, stores.events, asyncio.Event())
    items: list[WatchItem] = []
    watch = scheduling.watch()
    (snapshot,) = await anext(watch)
    assert session_id in {s.session_id for s in snapshot.active}

    async def follow() -> None:
        async for batch in watch:
            items.extend(batch)

    task = asyncio.create_task(follow())
    try:
        prep = await claim(stores, session_id)
        await outcomes_for(stores, FakeAgents()).failed(prep, ConnectionError("refused"), ())
        await RequeueRelease(SoonRelease(stores.factory)).release()
        await stores.relay.drain()  # the outbox publishes the requeue and the release
        await until(lambda: session_id in kinds(items, "pending"))
    finally:
        task.cancel()
    mine = [i.kind for i in items if session_id in _ids(i)]
    assert mine[-2:] == ["ended", "pending"]


def _ids(item: WatchItem) -> set[str]:
    return {item.session_id, *(s.session_id for s in item.sessions)}


def kinds(items: list[WatchItem], kind: str) -> set[str]:
    return {sid for i in items if i.kind == kind for sid in _ids(i)}
