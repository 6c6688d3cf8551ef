"""When an idle checker reclaims a running session (pure; docs/idle-and-usage.md).

The network-idle deadline is `idle_timeout` after the latest of: the session's last recorded use,
the moment it started running plus the per-session initial grace, and the owner's creation plus
the new-user grace. Batch sessions and sessions without an idle timeout are never idle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.registry.domain.model import Session, SessionType, Status

IDLE_TIMEOUT = "idle-timeout"


@dataclass(frozen=True, slots=True)
class Judged:
    """Which RUNNING sessions an idle checker may end, so that a round reads only those and
    not every running session of the fleet. Combined with `|`: a session any part names."""

    expiring: bool = False  # with a lifetime (expires_at)
    idle_timeout: bool = False  # watched for network activity (`watches_activity`)
    groups: frozenset[str] = frozenset()  # every session of these resource groups

    def __or__(self, other: Judged) -> Judged:
        return Judged(
            expiring=self.expiring or other.expiring,
            idle_timeout=self.idle_timeout or other.idle_timeout,
            groups=self.groups | other.groups,
        )

    @property
    def nothing(self) -> bool:
        return not (self.expiring or self.idle_timeout or self.groups)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleGrace:
    """Admin-configured grace periods (zero = none)."""

    initial: timedelta = timedelta(0)  # after a session starts running
    new_user: timedelta = timedelta(0)  # after its owner's user was created


def running_since(session: Session) -> datetime | None:
    """When the session last entered RUNNING (None if it never ran)."""
    return session.status_history.get(Status.RUNNING.value)


def watches_activity(session: Session) -> bool:
    """Does the network idle checker (and so the session's last use) apply to the session?"""
    return session.idle_timeout > 0 and session.session_type is not SessionType.BATCH


def idle_deadline(
    session: Session, last_seen: datetime | None, grace: IdleGrace
) -> datetime | None:
    """When the session counts as idle unless it is used again; None when it never does."""
    if not watches_activity(session):
        return None
    started = running_since(session)
    if started is None:
        return None
    baseline = started + grace.initial
    if session.owner_created_at is not None:
        baseline = max(baseline, session.owner_created_at + grace.new_user)
    if last_seen is not None:
        baseline = max(baseline, last_seen)
    return baseline + timedelta(seconds=session.idle_timeout)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleReport:
    """What the session's owner is shown: the time left before a checker ends it."""

    idle_remaining: timedelta | None = None
    lifetime_remaining: timedelta | None = None


def report(
    session: Session, last_seen: datetime | None, grace: IdleGrace, now: datetime
) -> IdleReport:
    if session.status is not Status.RUNNING:
        return IdleReport()
    return IdleReport(
        idle_remaining=remaining(idle_deadline(session, last_seen, grace), now),
        lifetime_remaining=remaining(session.expires_at, now),
    )


def remaining(deadline: datetime | None, now: datetime) -> timedelta | None:
    """Time left before `deadline`, never negative; None without a deadline."""
    if deadline is None:
        return None
    return max(deadline - now, timedelta(0))
