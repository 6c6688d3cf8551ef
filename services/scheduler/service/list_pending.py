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
from services.scheduler.domain.why_pending import queue_positions


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
        # Positions count the whole group's queue; only then is it narrowed to what the
        # caller may see.
        groups: dict[str, list[PendingSession]] = {}
        for session in self._cache.pending():
            if resource_group and session.resource_group != resource_group:
                continue
            groups.setdefault(session.resource_group, []).append(session)
        ordered: list[QueuedSession] = []
        for group in sorted(groups):
            queue = groups[group]
            in_order = self._policy_for(group).order(
                queue, queue_context(self._cache, group, queue)
            )
            positions = queue_positions(in_order)
            ordered += [
                self._queued(s, positions[s.session_id]) for s in in_order if _visible(caller, s)
            ]
        return PendingQueue(sessions=tuple(ordered), leader=self._is_leader())

    def _queued(self, session: PendingSession, place: tuple[int, int]) -> QueuedSession:
        attempt = self._cache.find_attempt(session.session_id)
        position, length = place
        if attempt is None:
            return QueuedSession(
                session=session,
                attempts=0,
                pending_reason="",
                pending_message="",
                queue_position=position,
                queue_length=length,
            )
        return QueuedSession(
            session=session,
            attempts=attempt.attempts,
            pending_reason=attempt.last_reason,
            pending_message=attempt.last_message,
            queue_position=position,
            queue_length=length,
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
