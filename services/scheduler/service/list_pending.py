"""ListPendingSessions: the queue in scheduling order, with why each session waits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from libs.core import access
from libs.core.access import Resource, Verb
from libs.core.identity import Caller
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import PendingSession, QueuedSession
from services.scheduler.domain.policy import SchedulingPolicy
from services.scheduler.domain.policy.context import queue_context


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
            if not _visible(caller, session):
                continue
            groups.setdefault(session.resource_group, []).append(session)
        ordered = [
            self._queued(session)
            for group in sorted(groups)
            for session in self._policy_for(group).order(
                groups[group], queue_context(self._cache, group, groups[group])
            )
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


def _visible(caller: Caller, session: PendingSession) -> bool:
    """Users see their own sessions, domain admins their domain's, superadmins and monitors all."""
    scope = access.scope_of(caller, Resource.SCHEDULER_QUEUE, Verb.READ)
    return access.in_scope(
        caller,
        scope,
        owner_user_id=session.owner_user_id,
        owner_access_key=session.access_key,
        domain_name=session.domain_name,
    )
