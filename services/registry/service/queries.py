"""GetSession and ListSessions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from libs.core.access import Verb
from libs.core.identity import Caller
from services.registry.domain.idle import IdleGrace, IdleReport, report, watches_activity
from services.registry.domain.model import Session, Status
from services.registry.domain.utilization import KernelStats
from services.registry.service.access import check_access, list_filter
from services.registry.service.idle_ports import LiveSessionState
from services.registry.service.session_ports import SessionReader

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class SessionQueries:
    store: SessionReader
    # Sessions' last use (GetSession shows the idle time left) and running kernels' latest
    # stats (ended ones keep theirs on the kernel row).
    live_state: LiveSessionState | None = None
    grace: IdleGrace = field(default_factory=IdleGrace)

    async def get(self, caller: Caller, session_id: str) -> Session:
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.READ)
        return session

    async def list(
        self,
        caller: Caller,
        *,
        page_size: int,
        statuses: Sequence[Status],
        before: tuple[datetime, str] | None,
    ) -> tuple[list[Session], tuple[datetime, str] | None]:
        """One page, newest first, and the cursor of the next page (None on the last)."""
        size = page_size or DEFAULT_PAGE_SIZE
        rows = await self.store.list_sessions(
            scope=list_filter(caller),
            statuses=statuses,
            limit=size + 1,
            before=before,
        )
        page = rows[:size]
        more = len(rows) > size
        cursor = (page[-1].created_at, page[-1].session_id) if more and page else None
        return page, cursor

    async def live(
        self, sessions: Sequence[Session]
    ) -> tuple[dict[str, IdleReport], dict[str, KernelStats]]:
        """Each session's time left before an idle checker ends it, and the latest report of
        each running kernel from its own agent (both empty when unknown)."""
        if self.live_state is None:
            return {}, {}
        # Only sessions with an idle timeout need their last use.
        watched = [
            s.session_id for s in sessions if s.status is Status.RUNNING and watches_activity(s)
        ]
        running = [
            (k.kernel_id, k.agent_id or "")
            for s in sessions
            for k in s.kernels
            if k.status is Status.RUNNING
        ]
        state = await self.live_state.read(watched, running)
        now = datetime.now(UTC)
        reports = {
            s.session_id: report(s, state.last_seen.get(s.session_id), self.grace, now)
            for s in sessions
        }
        return reports, state.stats
