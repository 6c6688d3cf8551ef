"""Pending timeout per resource group: a session pending longer is CANCELLED `pending-timeout`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from services.scheduler.domain.model import PendingSession

PENDING_TIMEOUT = "pending-timeout"


def timed_out(
    pending: Sequence[PendingSession],
    *,
    now: datetime,
    timeout_for: Callable[[str], timedelta],
) -> list[PendingSession]:
    """Sessions pending for at least their group's timeout; a zero timeout never cancels."""
    expired: list[PendingSession] = []
    timeouts: dict[str, timedelta] = {}  # per group, asked once per call
    for session in pending:
        group = session.resource_group
        timeout = timeouts.get(group)
        if timeout is None:
            timeout = timeouts[group] = timeout_for(group)
        if timeout > timedelta(0) and now - session.create_time >= timeout:
            expired.append(session)
    return expired


def timeout_message(session: PendingSession, now: datetime, timeout: timedelta) -> str:
    waited = int((now - session.create_time).total_seconds())
    return (
        f"pending for {waited} s, longer than resource group '{session.resource_group}' "
        f"allows ({int(timeout.total_seconds())} s)"
    )
