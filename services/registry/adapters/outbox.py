"""The transactional outbox: a change's events are rows written in the change's own transaction.

A store method that changes state stages the events it implies before it commits (rule
R-OUTBOX); the relay (`outbox_relay.py`) publishes them afterwards, at least once. A crash or a
Redis error between the commit and the publish therefore delays an event but never loses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import cast

from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.events.v1 import events_pb2
from shipyard.registry.v1 import user_event_service_pb2
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from libs.core.ids import new_id
from libs.grpcutil.slots_pb import slots_message
from libs.telemetry.tracing import current_trace_context
from services.registry.adapters.row_state import WRITES, Locked, pending_writes, write_back
from services.registry.adapters.tables import ConsumedEventRow, OutboxRow
from services.registry.adapters.unnest import unnest
from services.registry.adapters.user_events import (
    USER_STREAM,
    known_user_events,
    session_user_events,
    user_entry_id,
)
from services.registry.domain.model import Agent, AgentStatus
from services.registry.service.ports import SessionChange

_OUTBOX = cast(Table, OutboxRow.__table__)
_CONSUMED = cast(Table, ConsumedEventRow.__table__)
# Logical stream of the cluster broadcast; the relay publishes it to `<prefix>events:cluster`.
CLUSTER_STREAM = "cluster"
# Channel the relay LISTENs on; NOTIFY is delivered when the staging transaction commits.
NOTIFY_CHANNEL = "registry_outbox"


# A data-modifying CTE runs whether or not the outer query reads it.
def _staged_rows(rows: Sequence[tuple[str, str, bytes]]) -> tuple[str, dict[str, object]]:
    return unnest(
        "u",
        "n",
        event_id=("text", [r[0] for r in rows]),
        stream=("text", [r[1] for r in rows]),
        payload=("bytea", [r[2] for r in rows]),
    )


_STAGED = (
    f"staged AS (INSERT INTO {_OUTBOX.fullname} (event_id, stream, payload, created_at)"
    " SELECT u.event_id, u.stream, u.payload, CAST(:at AS timestamptz)"
    f" FROM {_staged_rows([])[0]} ORDER BY u.n RETURNING 1)"
    f" SELECT pg_notify('{NOTIFY_CHANNEL}', '')"
)
_STAGE = text(f"WITH {_STAGED}")
# With the rows the change moved (`row_state.WRITES`): the change and its events, one statement.
_WRITE_AND_STAGE = text(f"WITH {WRITES}, {_STAGED}")


def enqueued_event(session_id: str) -> events_pb2.Event:
    return events_pb2.Event(session_enqueued=events_pb2.SessionEnqueued(session_id=session_id))


def agent_event(agent: Agent) -> events_pb2.Event:
    payload = events_pb2.AgentChanged(
        agent_id=agent.agent_id,
        alive=agent.status is AgentStatus.ALIVE,
        available_slots=slots_message(agent.available_slots),
        occupied_slots=slots_message(agent.occupied_slots),
        resource_group=agent.resource_group,
        architecture=agent.architecture,
        images=list(agent.images),
        backend=agent.backend,
        # Out of scheduling (rule R-AGENT-OUT): the watch tells the scheduler why.
        unschedulable_reason="" if agent.schedulable else agent.unschedulable_reason,
    )
    return events_pb2.Event(agent_changed=payload)


def change_events(change: SessionChange) -> list[events_pb2.Event]:
    """Agents first: a watcher that sees the session leave the queue must already know the
    occupancy that placed it, or it could hand the same capacity out twice."""
    events = [agent_event(a) for a in change.agents]
    if (status := status_event(change)) is not None:
        events.append(status)
    return events


def status_event(change: SessionChange) -> events_pb2.Event | None:
    """The session's own event of a change (None when its status did not change)."""
    if change.status is None or not change.session_id:
        return None
    payload = events_pb2.SessionStatusChanged(
        session_id=change.session_id,
        status=change.status.value,
        status_info=change.status_info,
    )
    return events_pb2.Event(session_status_changed=payload)


async def stage(
    db: AsyncSession,
    events: Sequence[events_pb2.Event],
    user: Sequence[user_event_service_pb2.WatchEventsResponse] = (),
    rows: Locked | None = None,
) -> None:
    """Write `events` into the outbox inside the caller's open transaction, with the user
    events they imply (`user_events.py`) and the explicit `user` ones. `rows`: the session and
    kernel rows the transaction holds (`row_state.py`); what changed of them is written in the
    same statement, and their user events are made from them when they suffice."""
    if not events and not user:
        if rows is not None:
            await write_back(db, rows)
        return
    now = datetime.now(UTC)
    implied = None if rows is None else known_user_events(events, rows.sessions, now)
    if implied is None:
        if rows is not None:
            await write_back(db, rows)  # the read below must see the change
        implied = await session_user_events(db, events, now)
    created = Timestamp()
    created.FromDatetime(now)
    # The trace context merged from one message: a map's update() from a dict goes item by
    # item through Python, MergeFrom does not.
    traced = events_pb2.Event(trace_context=current_trace_context())
    staged: list[tuple[str, str, bytes]] = []
    for event in events:
        event.event_id = new_id()
        event.create_time.CopyFrom(created)
        event.MergeFrom(traced)
        staged.append((event.event_id, CLUSTER_STREAM, event.SerializeToString()))
    # A kernel's own event before the session change it causes.
    for user_event in [*user, *implied]:
        key = user_entry_id(user_event.event.session_id)
        staged.append((key, USER_STREAM, user_event.SerializeToString()))
    # One statement (one round trip) whatever the number of rows, with the relay's wake-up:
    # ids (the relay's order) follow the list's, and the NOTIFY is delivered at commit.
    _, params = _staged_rows(staged)
    writes = None if rows is None else pending_writes(rows)
    if writes is None:
        await db.execute(_STAGE, {"at": now, **params})
    else:
        await db.execute(_WRITE_AND_STAGE, {"at": now, **params, **writes})


async def stage_changes(
    db: AsyncSession, changes: Iterable[SessionChange | None], rows: Locked | None = None
) -> None:
    await stage(db, [e for c in changes if c is not None for e in change_events(c)], (), rows)


# Built once: the ids are one array parameter, so every batch size is the same statement.
_CONSUME = text(
    f"INSERT INTO {_CONSUMED.fullname} (event_id, consumed_at)"
    " SELECT u.id, CAST(:at AS timestamptz)"
    " FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS u(id, n) ORDER BY u.n"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


async def consume(db: AsyncSession, event_ids: Iterable[str], now: datetime) -> set[str]:
    """Record the ids of events applied in this transaction (rule R-IDEMPOTENT-CONSUMER), in
    one statement; return those not recorded before (the others are repeats)."""
    ids = sorted({i for i in event_ids if i})  # sorted: concurrent batches insert in one order
    if not ids:
        return set()
    return set((await db.execute(_CONSUME, {"ids": ids, "at": now})).scalars())
