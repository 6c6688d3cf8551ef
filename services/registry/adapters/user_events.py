"""User-facing lifecycle events: derived from the registry's own changes, kept on a Redis stream.

The store methods that change a session or kernel stage the internal events of the change
(`outbox.stage`); the user events are derived there, in the same transaction, from the rows as
the transaction leaves them, and relayed to `<prefix>events:user` like every outbox row (rule
R-OUTBOX). The stream is the bounded history (`STREAM_MAXLEN` entries); an entry's id is the
event's `event_id`, so resuming after one is an `XREAD` from it. An entry's `id` field is
`<session id>/<unique>`, so reading one session's events skips the others undecoded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from redis.asyncio import Redis
from shipyard.events.v1 import events_pb2
from shipyard.registry.v1 import user_event_service_pb2 as pb
from sqlalchemy import null, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.core.ids import new_id
from libs.events.streams import StreamEntry, last_entry_id, tail
from services.registry.adapters.row_state import KernelState, SessionState
from services.registry.adapters.tables import KernelRow, SessionRow
from services.registry.adapters.unnest import any_of
from services.registry.domain.model import Status
from services.registry.service.event_ports import StoredUserEvent

# Logical stream of user events; the relay publishes it to `<prefix>events:user`.
USER_STREAM = "user"

SESSION_EVENT_NAMES: dict[Status, str] = {
    Status.PENDING: "session_requeued",
    Status.SCHEDULED: "session_scheduled",
    Status.PREPARING: "session_preparing",
    Status.PULLING: "session_pulling",
    Status.RUNNING: "session_started",
    Status.RESTARTING: "session_restarting",
    Status.TERMINATING: "session_terminating",
    Status.TERMINATED: "session_terminated",
    Status.CANCELLED: "session_cancelled",
    Status.ERROR: "session_failure",
}
KERNEL_EVENT_NAMES: dict[Status, str] = {
    Status.PULLING: "kernel_pulling",
    Status.PREPARING: "kernel_creating",
    Status.RUNNING: "kernel_started",
    Status.TERMINATED: "kernel_terminated",
    Status.CANCELLED: "kernel_cancelled",
    Status.ERROR: "kernel_failure",
}


def user_entry_id(session_id: str) -> str:
    """The `id` field of a user event's stream entry: its session, then a unique part."""
    return f"{session_id}/{new_id()[:8]}"


def _stamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def _base(session: Any, name: str, now: datetime | Timestamp) -> pb.WatchEventsResponse:
    """A user event as stored: the response without its event_id, which is its stream id.
    (WatchSessionEventsResponse has the same fields, so either reads it.) `now` may be a
    Timestamp built once for many events (the constructor copies it)."""
    event = pb.UserEvent(
        session_id=session.id,
        session_name=session.name,
        owner_user_id=session.owner_user_id,
        domain_name=session.domain_name,
        project_id=session.project_id,
        create_time=now if isinstance(now, Timestamp) else _stamp(now),
    )
    return pb.WatchEventsResponse(name=name, event=event)


def _wanted(events: Sequence[events_pb2.Event]) -> list[tuple[str, events_pb2.Event]]:
    """The events that imply a user event, with their session's id."""
    wanted: list[tuple[str, events_pb2.Event]] = []
    for event in events:
        which = event.WhichOneof("payload")
        if which == "session_enqueued":
            wanted.append((event.session_enqueued.session_id, event))
        elif which == "session_status_changed":
            wanted.append((event.session_status_changed.session_id, event))
    return wanted


def _ends(wanted: Sequence[tuple[str, events_pb2.Event]]) -> bool:
    return any(e.session_status_changed.status == Status.TERMINATED.value for _, e in wanted)


def known_user_events(
    events: Sequence[events_pb2.Event], locked: Mapping[str, SessionState], now: datetime
) -> list[pb.WatchEventsResponse] | None:
    """`session_user_events` from the sessions the caller holds as its transaction leaves them
    (`row_state.py`), without reading them again; None when they do not suffice: a session
    not among them, or one that ends (its user event needs the main kernel's exit code)."""
    wanted = _wanted(events)
    if _ends(wanted) or any(sid not in locked for sid, _ in wanted):
        return None
    return _status_events(wanted, locked, now)


async def session_user_events(
    db: AsyncSession, events: Sequence[events_pb2.Event], now: datetime
) -> list[pb.WatchEventsResponse]:
    """The user events that `events` (about to be staged in `db`'s transaction) imply."""
    wanted = _wanted(events)
    if not wanted:
        return []
    ends = _ends(wanted)
    ids = sorted({sid for sid, _ in wanted})
    # The main kernel's exit code in the same query (one round trip per staged change), and
    # only when an event ends a session: a batch bind's SCHEDULED events carry none.
    main_exit = (
        select(KernelRow.exit_code)
        .where(KernelRow.session_id == SessionRow.id, KernelRow.cluster_role == "main")
        .limit(1)
        .scalar_subquery()
        if ends
        else null()
    )
    rows = await db.execute(
        select(
            SessionRow.id,
            SessionRow.name,
            SessionRow.owner_user_id,
            SessionRow.domain_name,
            SessionRow.project_id,
            SessionRow.status_message,
            SessionRow.start_attempts,
            main_exit.label("main_exit_code"),
        ).where(any_of(SessionRow.id, ids))
    )
    return _status_events(wanted, {r.id: r for r in rows.all()}, now)


def _status_events(
    wanted: Sequence[tuple[str, events_pb2.Event]], sessions: Mapping[str, Any], now: datetime
) -> list[pb.WatchEventsResponse]:
    stamp = _stamp(now)  # once: a batch bind stages ~1,000 of these
    out = []
    for sid, event in wanted:
        session = sessions.get(sid)
        if session is None:
            continue
        if event.HasField("session_enqueued"):
            # A re-queued session is announced to the scheduler again when its delay ends; its
            # owner saw session_requeued already.
            if session.start_attempts:
                continue
            out.append(_base(session, "session_enqueued", stamp))
            out[-1].event.status = Status.PENDING.value
            continue
        change = event.session_status_changed
        status = Status(change.status)
        user = _base(session, SESSION_EVENT_NAMES[status], stamp)
        user.event.status = status.value
        user.event.reason = change.status_info
        if status in (Status.CANCELLED, Status.ERROR):
            user.event.message = session.status_message
        if status is Status.TERMINATED and session.main_exit_code is not None:
            user.event.exit_code = session.main_exit_code
        out.append(user)
    return out


def renamed_event(session: SessionRow, now: datetime) -> pb.WatchEventsResponse:
    user = _base(session, "session_renamed", now)
    user.event.status = session.status
    return user


def kernel_user_event(
    session: SessionState,
    kernel: KernelState,
    status: Status,
    *,
    reason: str,
    exit_code: int | None,
    message: str,
    now: datetime,
) -> pb.WatchEventsResponse | None:
    """The user event of an agent's report on one kernel (None for statuses users do not see)."""
    name = KERNEL_EVENT_NAMES.get(status)
    if name is None:
        return None
    user = _base(session, name, now)
    user.event.kernel_id = kernel.id
    user.event.status = status.value
    user.event.reason = reason
    user.event.message = message
    if exit_code is not None and status is Status.TERMINATED:
        user.event.exit_code = exit_code
    return user


def _stored(entry: StreamEntry) -> StoredUserEvent:
    stored = pb.WatchEventsResponse.FromString(entry.data)
    stored.event_id = entry.entry_id
    event = stored.event
    return StoredUserEvent(
        event_id=entry.entry_id,
        name=stored.name,
        session_id=event.session_id,
        owner_user_id=event.owner_user_id,
        domain_name=event.domain_name,
        project_id=event.project_id,
        payload=stored.SerializeToString(),
    )


class RedisUserEvents:
    """The user event history on `<prefix>events:user` (written by the outbox relay only)."""

    def __init__(self, redis: Redis, prefix: str, *, block_ms: int = 1000) -> None:
        self._redis = redis
        self._block_ms = block_ms
        self.stream = f"{prefix}events:{USER_STREAM}"

    async def position(self) -> str:
        return await last_entry_id(self._redis, self.stream)

    async def history(self, after: str, session_id: str = "") -> AsyncIterator[StoredUserEvent]:
        """The retained events after `after` (of `session_id` only, when given), oldest first,
        up to the newest one now."""
        end = await self.position()
        position = after
        wanted = f"{session_id}/".encode()
        while _later(end, position):
            items: Any = await self._redis.xrange(self.stream, f"({position}", end, count=2000)
            if not items:
                return
            for entry_id, fields in items:
                position = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                key: bytes = fields.get(b"id", b"")
                if session_id and not key.startswith(wanted):
                    continue
                yield _stored(StreamEntry(position, key.decode(), fields.get(b"data", b"")))

    async def follow(self, after: str, session_id: str = "") -> AsyncIterator[StoredUserEvent]:
        """Every event after `after` (of `session_id` only, when given), waiting for new ones
        forever."""
        wanted = f"{session_id}/"
        async for entry in tail(self._redis, self.stream, after, block_ms=self._block_ms):
            if not session_id or entry.event_id.startswith(wanted):
                yield _stored(entry)


def _later(a: str, b: str) -> bool:
    """Whether stream id `a` is after stream id `b`."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) > (int(bms), int(bseq or 0))
