"""What a policy may look at besides the queue itself, gathered once per group per cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from libs.core.slots import ResourceSlots
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import ActiveSession, PendingSession


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueContext:
    # Failed scheduling attempts per pending session id (missing = none yet).
    attempts: Mapping[str, int] = field(default_factory=dict)
    # Sessions of the group that hold slots now: DRF measures each user's share from them.
    active: Sequence[ActiveSession] = ()
    # The group's total capacity (sum over its alive agents).
    capacity: ResourceSlots = field(default_factory=ResourceSlots)


EMPTY_CONTEXT = QueueContext()


def user_of(session: PendingSession | ActiveSession) -> str:
    """Whose share a session counts against: its owner, else its keypair."""
    return session.owner_user_id or session.access_key


def oldest_first(pending: Sequence[PendingSession]) -> list[PendingSession]:
    # The id breaks ties between sessions created in the same instant, for determinism.
    return sorted(pending, key=lambda s: (s.create_time, s.session_id))


def queue_context(
    cache: ClusterCache, group: str, pending: Sequence[PendingSession]
) -> QueueContext:
    """The context of one group's queue as the cache knows it now."""
    attempts: dict[str, int] = {}
    for session in pending:
        record = cache.find_attempt(session.session_id)
        if record is not None and record.attempts:
            attempts[session.session_id] = record.attempts
    capacity = cache.index.alive_capacity(group)
    # Sessions whose group is unknown count everywhere: a share is never understated.
    active = [a for a in cache.active() if a.resource_group in ("", group)]
    return QueueContext(attempts=attempts, active=active, capacity=capacity)
