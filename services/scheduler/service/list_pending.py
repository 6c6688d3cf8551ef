"""ListPendingSessions: the queue in scheduling order, with why each session waits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from libs.core.identity import Caller
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import PendingSession, QueuedSession
from services.scheduler.domain.policy import SchedulingPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingQueue:
    sessions: tuple[QueuedSession, ...]
    # A standby's cache may lag; clients see which replica answered.
    leader: bool


class ListPendingSessions:
    def __init__(
        self,
        *,
        cache: ClusterCache,
        policy_for: Callable[[str], SchedulingPolicy],
        is_leader: Callable[[], bool],
    ) -> None:
        self._cache = cache
        self._policy_for = policy_for
        self._is_leader = is_leader

    def __call__(self, caller: Caller, *, resource_group: str = "") -> PendingQueue:
        groups: dict[str, list[PendingSession]] = {}
        for session in self._cache.pending():
            if resource_group and session.resource_group != resource_group:
                continue
            # Regular users see their own sessions only; admins and services see all.
            if not caller.is_admin and (
                not caller.access_key or session.access_key != caller.access_key
            ):
                continue
            groups.setdefault(session.resource_group, []).append(session)
        ordered = [
            self._queued(session)
            for group in sorted(groups)
            for session in self._policy_for(group).order(groups[group])
        ]
        return PendingQueue(sessions=tuple(ordered), leader=self._is_leader())

    def _queued(self, session: PendingSession) -> QueuedSession:
        attempt = self._cache.find_attempt(session.session_id)
        if attempt is None:
            return QueuedSession(session=session, attempts=0, pending_reason="", pending_message="")
        return QueuedSession(
            session=session,
            attempts=attempt.attempts,
            pending_reason=attempt.last_reason,
            pending_message=attempt.last_message,
        )
