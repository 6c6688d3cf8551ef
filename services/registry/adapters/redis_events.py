"""Cluster events on a Redis stream and a waiter for status changes."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2
from shipyard.type.v1 import resources_pb2

from libs.core.ids import new_id
from libs.core.slots import ResourceSlots
from libs.events.streams import StreamPublisher, last_entry_id, tail
from libs.telemetry.tracing import current_trace_context
from services.registry.domain.model import Agent, AgentStatus
from services.registry.service.ports import ClusterChange, SessionChange

log = logging.getLogger(__name__)


class RedisClusterEvents:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self.stream = f"{prefix}events:cluster"
        self._publisher = StreamPublisher(redis, self.stream)

    async def session_enqueued(self, session_id: str) -> None:
        await self._publish(
            events_pb2.Event(session_enqueued=events_pb2.SessionEnqueued(session_id=session_id))
        )

    async def session_changed(self, change: SessionChange) -> None:
        # Agents first: a watcher that sees the session leave the queue must already know the
        # occupancy that placed it, or it could hand the same capacity out twice.
        for agent in change.agents:
            await self.agent_changed(agent)
        if change.status is not None:
            payload = events_pb2.SessionStatusChanged(
                session_id=change.session_id,
                status=change.status.value,
                status_info=change.status_info,
            )
            await self._publish(events_pb2.Event(session_status_changed=payload))

    async def agent_changed(self, agent: Agent) -> None:
        payload = events_pb2.AgentChanged(
            agent_id=agent.agent_id,
            alive=agent.status.value == "ALIVE",
            available_slots=resources_pb2.ResourceSlots(amounts=agent.available_slots.to_strings()),
            occupied_slots=resources_pb2.ResourceSlots(amounts=agent.occupied_slots.to_strings()),
            resource_group=agent.resource_group,
            architecture=agent.architecture,
            images=list(agent.images),
            backend=agent.backend,
            unschedulable_reason="" if agent.schedulable else agent.unschedulable_reason,
        )
        await self._publish(events_pb2.Event(agent_changed=payload))

    async def position(self) -> str:
        return await last_entry_id(self._redis, self.stream)

    async def follow(self, after: str) -> AsyncIterator[ClusterChange]:
        async for entry in tail(self._redis, self.stream, after):
            event = events_pb2.Event.FromString(entry.data)
            which = event.WhichOneof("payload")
            if which == "session_enqueued":
                yield ClusterChange(kind="enqueued", session_id=event.session_enqueued.session_id)
            elif which == "session_status_changed":
                ch = event.session_status_changed
                yield ClusterChange(kind="session", session_id=ch.session_id, status=ch.status)
            elif which == "agent_changed":
                yield ClusterChange(kind="agent", agent=_agent(event.agent_changed))

    async def _publish(self, event: events_pb2.Event) -> None:
        event.event_id = new_id()
        ts = Timestamp()
        ts.FromDatetime(datetime.now(UTC))
        event.create_time.CopyFrom(ts)
        event.trace_context.update(current_trace_context())
        await self._publisher.publish(event.event_id, event.SerializeToString())


class StreamSessionWaiter:
    """Wakes waiting CreateSession calls when their session's status changes (any replica)."""

    def __init__(self, events: RedisClusterEvents) -> None:
        self._events = events
        self._waiting: dict[str, list[asyncio.Event]] = defaultdict(list)

    def subscribe(self, session_id: str) -> asyncio.Event:
        flag = asyncio.Event()
        self._waiting[session_id].append(flag)
        return flag

    def unsubscribe(self, session_id: str, flag: asyncio.Event) -> None:
        flags = self._waiting.get(session_id, [])
        if flag in flags:
            flags.remove(flag)
        if not flags:
            self._waiting.pop(session_id, None)

    async def run(self) -> None:
        position = await self._events.position()
        async for change in self._events.follow(position):
            if change.kind == "session":
                for flag in self._waiting.get(change.session_id, ()):
                    flag.set()


def _agent(msg: events_pb2.AgentChanged) -> Agent:
    return Agent(
        agent_id=msg.agent_id,
        status=AgentStatus.ALIVE if msg.alive else AgentStatus.LOST,
        address="",
        resource_group=msg.resource_group,
        available_slots=ResourceSlots(dict(msg.available_slots.amounts)),
        occupied_slots=ResourceSlots(dict(msg.occupied_slots.amounts)),
        backend=msg.backend,
        last_heartbeat=None,
        architecture=msg.architecture,
        images=tuple(msg.images),
        schedulable=not msg.unschedulable_reason,
        unschedulable_reason=msg.unschedulable_reason,
    )
