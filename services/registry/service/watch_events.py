"""WatchSessionEvents and WatchEvents: lifecycle events for whoever may see the session.

An event is shown only to callers whose read scope on sessions covers its session (the owner,
their domain's admins, superadmins and monitors), by the same rule as GetSession; a session
outside the scope is NOT_FOUND for the per-session watch and simply absent from WatchEvents.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from libs.core import access
from libs.core.access import Resource, Verb
from libs.core.identity import Caller
from services.registry.domain.model import DEAD_STATUSES
from services.registry.service.access import check_access
from services.registry.service.event_ports import (
    FINAL_SESSION_EVENTS,
    StoredUserEvent,
    UserEventLog,
)
from services.registry.service.session_ports import SessionReader

# Stream ids are Redis' clock in milliseconds; a session's history is read from a little before
# its creation time (the registry's clock), so clock skew between the two cannot hide events.
CLOCK_MARGIN = timedelta(minutes=1)
# How long a watch of a session that ended within RECENT_END waits for a final event the outbox
# has not relayed yet.
RELAY_GRACE_SECONDS = 3.0
RECENT_END = timedelta(seconds=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    session_id: str = ""
    project_id: str = ""
    kinds: frozenset[str] = frozenset({"session", "kernel"})


def kinds_of(scope: str) -> frozenset[str]:
    """Backend.AI's event scope ("session", "kernel", both comma-separated, "*" or empty)."""
    if scope in ("", "*"):
        return frozenset({"session", "kernel"})
    return frozenset(scope.split(","))


def visible(caller: Caller, event: StoredUserEvent) -> bool:
    scope = access.scope_of(caller, Resource.SESSION, Verb.READ)
    # Sessions are personal (billed to a project, not shared with it): no project_id here.
    return access.in_scope(
        caller, scope, owner_user_id=event.owner_user_id, domain_name=event.domain_name
    )


@dataclass(frozen=True, slots=True)
class WatchUserEvents:
    store: SessionReader
    log: UserEventLog

    async def session(
        self, caller: Caller, session_id: str, last_event_id: str
    ) -> AsyncIterator[StoredUserEvent]:
        """One session's events after `last_event_id` (its whole retained history when empty);
        ends after its final event, or at once for an ended session with nothing left to say."""
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.READ)
        after = last_event_id
        if not after:
            start_ms = int((session.created_at - CLOCK_MARGIN).timestamp() * 1000)
            after = f"{max(start_ms, 0)}-0"
        if session.status not in DEAD_STATUSES:
            async for event in self.log.follow(after, session_id):
                if event.session_id == session_id:
                    yield event
                    if event.name in FINAL_SESSION_EVENTS:
                        return
            return
        async for event in self.log.history(after, session_id):
            after = event.event_id
            if event.session_id == session_id:
                yield event
                if event.name in FINAL_SESSION_EVENTS:
                    return
        # Ended just now: its final event may still be on its way (committed, not relayed yet).
        ended = session.terminated_at
        if ended is None or datetime.now(UTC) - ended > RECENT_END:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RELAY_GRACE_SECONDS):
                async for event in self.log.follow(after, session_id):
                    if event.session_id == session_id:
                        yield event
                        if event.name in FINAL_SESSION_EVENTS:
                            return

    async def all(
        self, caller: Caller, flt: EventFilter, last_event_id: str, *, follow: bool = True
    ) -> AsyncIterator[StoredUserEvent]:
        """Every visible event matching `flt` after `last_event_id` (from now when empty);
        without `follow`, only those retained now."""
        after = last_event_id or await self.log.position()
        sid = flt.session_id
        events = self.log.follow(after, sid) if follow else self.log.history(after, sid)
        async for event in events:
            if flt.session_id and event.session_id != flt.session_id:
                continue
            if flt.project_id and event.project_id != flt.project_id:
                continue
            if event.kind not in flt.kinds or not visible(caller, event):
                continue
            yield event
