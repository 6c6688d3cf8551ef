"""The idle checkers: end running sessions that outlived their lifetime or sat unused.

Every interval the replica holding the checker lease lists, once, the RUNNING sessions some
checker may end (each checker names them: `Judged`; a fleet's sessions without a lifetime, an
idle timeout or a utilization policy are never read) and runs all checkers on them
concurrently; a checker that fails is logged and the others still count.
A session several checkers condemn ends once, with the first checker's reason, and only if it
is still RUNNING when its row is locked (docs/idle-and-usage.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from services.registry.domain.idle import IDLE_TIMEOUT, IdleGrace, Judged, idle_deadline
from services.registry.domain.model import MAX_LIFETIME_EXCEEDED, Session
from services.registry.service.destroy_session import tell_agents
from services.registry.service.idle_ports import ActivityClock, CheckerLease
from services.registry.service.ports import AgentClient
from services.registry.service.session_ports import SessionEnding

log = logging.getLogger(__name__)


class IdleChecker(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def reason(self) -> str:
        """The status_info of the sessions it ends."""
        ...

    async def judged(self) -> Judged:
        """The RUNNING sessions this checker may end at all."""
        ...

    async def due(self, sessions: Sequence[Session], now: datetime) -> set[str]:
        """Ids of the sessions among `sessions` this checker would end now."""
        ...


@dataclass(frozen=True, slots=True)
class LifetimeChecker:
    """Sessions past their owner's max_session_lifetime (expires_at, set when bound)."""

    name: str = "session-lifetime"
    reason: str = MAX_LIFETIME_EXCEEDED

    async def judged(self) -> Judged:
        return Judged(expiring=True)

    async def due(self, sessions: Sequence[Session], now: datetime) -> set[str]:
        return {s.session_id for s in sessions if s.expires_at is not None and s.expires_at <= now}


@dataclass(frozen=True, slots=True)
class NetworkIdleChecker:
    """Interactive sessions unused for their owner's idle_timeout."""

    activity: ActivityClock
    grace: IdleGrace
    name: str = "network-idle"
    reason: str = IDLE_TIMEOUT

    async def judged(self) -> Judged:
        return Judged(idle_timeout=True)

    async def due(self, sessions: Sequence[Session], now: datetime) -> set[str]:
        watched = [s for s in sessions if idle_deadline(s, None, self.grace) is not None]
        if not watched:
            return set()
        seen = await self.activity.last_seen_many([s.session_id for s in watched])
        due = set()
        for session in watched:
            deadline = idle_deadline(session, seen.get(session.session_id), self.grace)
            if deadline is not None and deadline <= now:
                due.add(session.session_id)
        return due


@dataclass(frozen=True, slots=True)
class IdleChecks:
    sessions: SessionEnding
    agents: AgentClient
    checkers: Sequence[IdleChecker]
    lease: CheckerLease | None = None

    async def check(self, now: datetime | None = None) -> dict[str, str]:
        """One round; the sessions it ended and why."""
        now = now or datetime.now(UTC)
        named = await asyncio.gather(*(c.judged() for c in self.checkers), return_exceptions=True)
        checkers: list[IdleChecker] = []
        judged = Judged()
        for checker, scope in zip(self.checkers, named, strict=True):
            if isinstance(scope, BaseException):
                log.error("idle checker %s failed", checker.name, exc_info=scope)
                continue
            checkers.append(checker)
            judged |= scope
        running = await self.sessions.running(judged)
        if not running:
            return {}
        results = await asyncio.gather(
            *(checker.due(running, now) for checker in checkers), return_exceptions=True
        )
        verdicts: dict[str, str] = {}
        for checker, result in zip(checkers, results, strict=True):
            if isinstance(result, BaseException):
                log.error("idle checker %s failed", checker.name, exc_info=result)
                continue
            for session_id in sorted(result):
                verdicts.setdefault(session_id, checker.reason)
        ended: dict[str, str] = {}
        for session_id, reason in verdicts.items():
            targets, change = await self.sessions.begin_destroy(
                session_id, forced=True, reason=reason, only_running=True
            )
            if change is None:
                continue
            log.info("session %s ends: %s", session_id, reason)
            ended[session_id] = reason
            await tell_agents(self.agents, targets, reason)
        return ended

    async def run(self, interval: float) -> None:
        while True:
            try:
                if self.lease is None or await self.lease.hold():
                    await self.check()
            except Exception:
                log.exception("idle check failed")
            await asyncio.sleep(interval)
