"""Following the cluster event stream, and a waiter for status changes."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2

from libs.core.slots import ResourceSlots
from libs.events.streams import last_entry_id, tail
from services.registry.domain.model import WAIT_ENDS, Agent, AgentStatus, Status
from services.registry.service.ports import ClusterChange

log = logging.getLogger(__name__)
_STATUS_VALUES = frozenset(s.value for s in Status)
_SCHEDULED = Status.SCHEDULED.value


class RedisClusterEvents:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        # Written by the outbox relay only (rule R-OUTBOX); read here.
        self.stream = f"{prefix}events:cluster"

    async def position(self) -> str:
        return await last_entry_id(self._redis, self.stream)

    async def follow(self, after: str, *, agents: bool = True) -> AsyncIterator[ClusterChange]:
        """The changes after `after`; without `agents`, agent changes are skipped undecoded
        (a batch bind publishes one per agent it touched, ~1,000)."""
        async for entry in tail(self._redis, self.stream, after):
            event = events_pb2.Event.FromString(entry.data)
            which = event.WhichOneof("payload")
            if which == "agent_changed" and not agents:
                continue
            if which == "session_enqueued":
                yield ClusterChange(kind="enqueued", session_id=event.session_enqueued.session_id)
            elif which == "session_status_changed":
                ch = event.session_status_changed
                yield ClusterChange(kind="session", session_id=ch.session_id, status=ch.status)
            elif which == "agent_changed":
                yield ClusterChange(kind="agent", agent=_agent(event.agent_changed))


class StreamSessionWaiter:
    """Wakes waiting CreateSession calls when their session's status changes (any replica).

    A change committed on this replica also wakes them at once (`wake`), without waiting for the
    outbox relay and the stream; a waiter re-reads its session on every wake-up, so waking it
    twice (once here, once from the stream) costs one read and changes nothing. Only statuses
    that end a wait wake anybody (not SCHEDULED, PREPARING, ... on the way to RUNNING).
    """

    def __init__(
        self, events: RedisClusterEvents, on_scheduled: Callable[[], None] | None = None
    ) -> None:
        self._events = events
        self._waiting: dict[str, list[asyncio.Event]] = defaultdict(list)
        # Called for every session the stream shows SCHEDULED: wakes a starter whose replica
        # does not bind (REGISTRY_STARTER_FOLLOWS_BINDS); a binding replica wakes its own.
        self._on_scheduled = on_scheduled

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

    def wake(self, session_id: str, status: Status) -> None:
        if status not in WAIT_ENDS:  # a waiter would re-read its session for nothing
            return
        for flag in self._waiting.get(session_id, ()):
            flag.set()

    async def run(self) -> None:
        position = await self._events.position()
        # (Re)started, e.g. after a Redis outage: changes may have passed unseen, so every
        # waiting call re-reads its session now instead of waiting for its deadline.
        for flags in list(self._waiting.values()):
            for flag in flags:
                flag.set()
        async for change in self._events.follow(position, agents=False):
            if change.kind == "session" and change.status in _STATUS_VALUES:
                self.wake(change.session_id, Status(change.status))
                if self._on_scheduled is not None and change.status == _SCHEDULED:
                    self._on_scheduled()


def _agent(msg: events_pb2.AgentChanged) -> Agent:
    return Agent(
        agent_id=msg.agent_id,
        status=AgentStatus.ALIVE if msg.alive else AgentStatus.LOST,
        address="",
        resource_group=msg.resource_group,
        available_slots=_slots(tuple(msg.available_slots.amounts.items())),
        occupied_slots=_slots(tuple(msg.occupied_slots.amounts.items())),
        backend=msg.backend,
        last_heartbeat=None,
        architecture=msg.architecture,
        images=tuple(msg.images),
        schedulable=not msg.unschedulable_reason,
        unschedulable_reason=msg.unschedulable_reason,
    )


@functools.lru_cache(maxsize=4096)
def _slots(amounts: tuple[tuple[str, str], ...]) -> ResourceSlots:
    # Most agents share a capacity and a few occupancies: parse each map once (immutable).
    return ResourceSlots(dict(amounts))
