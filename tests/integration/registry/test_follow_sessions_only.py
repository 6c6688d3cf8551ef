"""Followers that only wait for session changes skip the agent changes of the cluster stream,
and still see every session change in order."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2

from libs.core.ids import new_id
from tests.integration.registry.conftest import Stores

pytestmark = pytest.mark.integration


def _agent(agent_id: str) -> events_pb2.Event:
    return events_pb2.Event(agent_changed=events_pb2.AgentChanged(agent_id=agent_id, alive=True))


def _status(session_id: str, status: str) -> events_pb2.Event:
    change = events_pb2.SessionStatusChanged(session_id=session_id, status=status)
    return events_pb2.Event(session_status_changed=change)


async def test_a_follower_without_agents_sees_only_session_changes_in_order(
    stores: Stores, redis: Redis
) -> None:
    events = stores.events
    position = await events.position()
    first, second = new_id(), new_id()
    published = [
        _agent("a-1"),
        _status(first, "SCHEDULED"),
        _agent("a-2"),
        _status(second, "SCHEDULED"),
        _status(first, "RUNNING"),
    ]
    # Written to the stream directly, as the outbox relay would.
    for event in published:
        await redis.xadd(events.stream, {"id": new_id(), "data": event.SerializeToString()})

    async def take(n: int, *, agents: bool) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        async with asyncio.timeout(10):
            async for change in events.follow(position, agents=agents):
                seen.append((change.kind, change.session_id))
                if len(seen) == n:
                    return seen
        return seen

    sessions_only = await take(3, agents=False)
    assert sessions_only == [
        ("session", first),
        ("session", second),
        ("session", first),
    ]
    everything = await take(5, agents=True)
    assert [kind for kind, _ in everything] == ["agent", "session", "agent", "session", "session"]
